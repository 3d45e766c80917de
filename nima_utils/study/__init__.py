"""Study stage (notebooks 03 and 04): what a trained model is worth and what moves its scores.

`evaluate` predicts a split as the model card prescribes and measures it with bootstrap intervals,
`evaluation_figures` draws it, `group_ranking` measures the ranking within groups (unseen photos);
`perturbations` are photo edits, `sensitivity` scores edited photos and input settings,
`sensitivity_plots` draws them.
"""

from nima_utils._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "evaluate_split": "evaluate", "bootstrap_metrics": "evaluate", "findings": "evaluate",
    "read_data_summary": "evaluate", "DataSummary": "evaluate", "group_ranking": "group_ranking",
    "perturbation_scores": "sensitivity", "input_scores": "sensitivity", "ranking": "sensitivity",
})
