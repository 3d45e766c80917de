"""Notebook 04's findings in words and its results table, from small hand-made summaries."""

import pandas as pd

from nima_utils.study import sensitivity_report


def _summary(n=3, labels="synthetic", left_out=None):
    ranking = [
        {"rank": 1, "perturbation": "blur", "kind": "photo edit", "range": 0.91, "mean_abs_change": 0.4,
         "lowest_at": 8.0, "lowest_change": -0.9, "highest_at": 0.0, "highest_change": 0.0},
        {"rank": 2, "perturbation": "contrast", "kind": "photo edit", "range": 0.5, "mean_abs_change": 0.2,
         "lowest_at": 0.25, "lowest_change": -0.45, "highest_at": 1.5, "highest_change": 0.05},
        {"rank": 3, "perturbation": "resize", "kind": "model input", "range": 0.2, "mean_abs_change": 0.1,
         "lowest_at": "nearest", "lowest_change": -0.2, "highest_at": "bilinear", "highest_change": 0.0},
        {"rank": 4, "perturbation": "padding", "kind": "model input", "range": 0.03, "mean_abs_change": 0.04,
         "lowest_at": "symmetric", "lowest_change": -0.03, "highest_at": "same", "highest_change": 0.0},
    ]
    return {
        "weights": {"path": "/w/demo/nima.weights.h5", "labels": labels, "resize": "bilinear", "padding": "same"},
        "images": {"n": n, "source": "the test split"},
        "ranking": ranking,
        "trends": {"contrast": {"change_at_lowest": -0.45, "change_at_highest": 0.02,
                                "spearman_factor_vs_score": 0.9}},
        "inputs": {"resize": {"bilinear": 0.0, "nearest": -0.2, "bicubic": 0.01},
                   "padding": {"same": 0.0, "symmetric": -0.03}},
        "left_out": left_out or {},
    }


def test_findings_name_the_top_effects_what_was_left_out_and_how_far_to_trust_them():
    grey = {"saturation": "changes none of the 3 photos at any factor (every photo is grey)"}
    lines = sensitivity_report.findings(_summary(left_out=grey))
    assert lines[0].startswith("On 3 photos with <code>nima.weights.h5</code>, the largest effects on the mean score "
                               "came from **blur** (range 0.91; lowest at 8, -0.90), **contrast**")
    assert "rises with contrast (Spearman +0.90" in lines[1] and "the best factor was 1.5 (+0.05)" in lines[1]
    assert "card's bilinear changed the average score by -0.20 (nearest) to +0.01" in lines[2]
    assert "other padding layout moved it by -0.03 on average, 0.04 per photo" in lines[2]
    assert "**saturation** was left out: it changes none of the 3 photos" in lines[3]
    assert "3 photos are few" in lines[4] and "synthetic labels" in lines[4]
    many = sensitivity_report.findings(_summary(n=40, labels="human"))
    assert len(many) == 4 and "over the 40 photos" in many[-1] and "synthetic" not in many[-1]


def test_results_table_marks_identities_of_edits_and_inputs():
    scores = pd.DataFrame({"image": ["a", "a"], "perturbation": ["contrast", "contrast"], "factor": [1.0, 2.0],
                           "mean": [5.0, 5.5], "std": [1.4, 1.3]})
    inputs = pd.DataFrame({"image": ["a"], "perturbation": ["resize"], "setting": ["nearest"], "mean": [4.9],
                           "std": [1.4], "card": [False]})
    table = sensitivity_report.results_table(scores, inputs)
    assert list(table["identity"]) == [True, False, False]
    assert list(table["kind"]) == ["photo edit", "photo edit", "model input"]
