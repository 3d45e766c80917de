"""Study stage (notebooks 03 and 04): what a trained model is worth and what moves its scores.

`evaluate` checks notebook 03's parameters and predicts a split as the model card prescribes,
`evaluation_metrics` measures it with paired bootstrap intervals against the baselines,
`evaluation_report` puts the result into tables and sentences, `evaluation_figures` draws it,
`group_ranking` measures the ranking within groups (unseen photos);
`perturbations` are photo edits, `sensitivity` scores edited photos and input settings,
`sensitivity_plots` draws them.
"""

from nima_utils._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "EvaluateParameters": "evaluate", "predict_split": "evaluate", "Predictions": "evaluate",
    "evaluate_split": "evaluation_metrics", "bootstrap_metrics": "evaluation_metrics",
    "metrics_table": "evaluation_report", "comparison_table": "evaluation_report", "findings": "evaluation_report",
    "SensitivityParameters": "sensitivity", "perturbation_scores": "sensitivity", "input_scores": "sensitivity",
    "ranking": "sensitivity", "group_ranking": "group_ranking",
})
