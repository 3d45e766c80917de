"""Evaluation results in tables and words: value [95% CI] per metric, the published AVA figures
beside this model's, the headline a summary keeps and the plain-sentence findings."""

from __future__ import annotations

from typing import Any

import pandas as pd

from nima_utils.data.summary import DataSummary
from nima_utils.model.card import ModelCard
from nima_utils.model.metrics import METRICS, THRESHOLDS

LABELS = {
    "emd": "EMD (lower is better)",
    "srcc_mean": "SRCC of the mean score",
    "lcc_mean": "LCC of the mean score",
    "srcc_std": "SRCC of the score std",
    "lcc_std": "LCC of the score std",
    **{f"accuracy@{t}": f"binary accuracy at {t}" for t in THRESHOLDS},
}
PUBLISHED = [
    {"model": "NIMA MobileNet (paper)", "accuracy@5.0": 0.8036, "lcc_mean": 0.518, "srcc_mean": 0.510,
     "emd": 0.081, "test data": "AVA, the paper authors' test split"},
    {"model": "NIMA VGG16 (paper)", "accuracy@5.0": 0.8060, "lcc_mean": 0.610, "srcc_mean": 0.592,
     "emd": 0.051, "test data": "AVA, the paper authors' test split"},
    {"model": "NIMA Inception-v2 (paper)", "accuracy@5.0": 0.8151, "lcc_mean": 0.638, "srcc_mean": 0.612,
     "emd": 0.050, "test data": "AVA, the paper authors' test split"},
    {"model": "idealo MobileNet (published)", "accuracy@5.0": None, "lcc_mean": 0.626, "srcc_mean": 0.609,
     "emd": 0.071, "test data": "AVA, idealo's own test split"},
]
"""Published AVA test figures (Talebi & Milanfar 2018, Table; idealo/image-quality-assessment README)."""


def _fmt(metric: str, entry: dict[str, float | None] | None) -> str:
    if entry is None or entry["value"] is None:
        return "—"
    percent = metric.startswith("accuracy")
    scale, digits = (100.0, 1) if percent else (1.0, 3)

    def f(x: float) -> str:
        return f"{x * scale:.{digits}f}"

    text = f(entry["value"]) + ("%" if percent else "")
    if entry.get("low") is not None:
        text += f" [{f(entry['low'])}, {f(entry['high'])}]"
    return text


def metrics_table(result: dict[str, Any]) -> pd.DataFrame:
    """Model, trivial baseline and majority class side by side: value [95% CI] per metric, and the
    model's paired advantage over the baseline that metric is judged against."""
    rows = {}
    for metric in METRICS:
        diff = result["paired_differences"].get(metric)
        rows[LABELS[metric]] = {
            "model": _fmt(metric, result["model"][metric]),
            "trivial baseline": _fmt(metric, result["trivial_baseline"][metric]),
            "majority class": _fmt(metric, result["majority_class"].get(metric)),
            "model minus baseline (paired)": (
                _fmt(metric, diff).replace("%", " pt") + f" vs. {diff['against'].replace('_', ' ')}"
                if diff else "—"),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def comparison_table(result: dict[str, Any], test_data: str) -> pd.DataFrame:
    """This model and the trivial baseline beside the published AVA figures (accuracy at 5.0, LCC and
    SRCC of the mean, EMD) and the data each was measured on."""
    columns = ["accuracy@5.0", "lcc_mean", "srcc_mean", "emd"]
    rows = [dict(row) for row in PUBLISHED]
    for name, key in (("this model", "model"), ("trivial baseline", "trivial_baseline")):
        rows.append({"model": name, **{c: result[key][c]["value"] for c in columns}, "test data": test_data})
    table = pd.DataFrame(rows).set_index("model")
    shown = pd.DataFrame(index=table.index)
    shown["accuracy at 5.0"] = [f"{v:.2%}" if pd.notna(v) else "—" for v in table["accuracy@5.0"]]
    for c, label in (("lcc_mean", "LCC (mean)"), ("srcc_mean", "SRCC (mean)"), ("emd", "EMD")):
        shown[label] = [f"{v:.3f}" if pd.notna(v) else "—" for v in table[c]]
    shown["test data"] = table["test data"]
    return shown


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The metrics a summary shows: the model's with intervals, the baselines' values and the paired
    differences (model minus baseline) that say whether it beats them."""
    return {
        "model": result["model"],
        "trivial_baseline": {k: v["value"] for k, v in result["trivial_baseline"].items()},
        "majority_class": {k: v["value"] for k, v in result["majority_class"].items()},
        "paired_differences": result["paired_differences"],
    }


def _beats(result: dict[str, Any], metric: str, lower_is_better: bool = False) -> str:
    """How the model compares with the baseline of `metric`, by the paired interval of the difference."""
    diff = result["paired_differences"][metric]
    if diff["value"] is None:
        return "cannot be compared with"
    if diff["low"] is None:
        better = diff["value"] < 0 if lower_is_better else diff["value"] > 0
        return ("beats" if better else "does no better than") + " (no bootstrap interval)"
    if (diff["high"] < 0) if lower_is_better else (diff["low"] > 0):
        return "beats"
    if (diff["low"] > 0) if lower_is_better else (diff["high"] < 0):
        return "is worse than"
    return "is not distinguishable (95% interval of the difference includes 0) from"


def findings(result: dict[str, Any], split: str, data: DataSummary, card: ModelCard) -> list[str]:
    """A few plain sentences on what the evaluation found, for the end of a report (Markdown; values
    from the card and the data summary escaped)."""
    from nima_utils.study.display import md

    m, t, maj = result["model"], result["trivial_baseline"], result["majority_class"]
    labels = ("the embedded demo dataset, whose labels are **synthetic** (they grade degradations of a few "
              "photos, not human taste; no figure here says anything about AVA or is comparable with the "
              "paper)" if data.synthetic_labels else f"the {md(data.source)} data ({md(data.split_scheme)} split)")
    lines = [f"{result['n_images']} images of the {md(split)} split of {labels}, scored by a {md(card.backbone)} "
             f"model ({md(card.training_data)})."]
    lines.append(f"EMD {_fmt('emd', m['emd'])} against {t['emd']['value']:.3f} for the trivial baseline: the model "
                 f"{_beats(result, 'emd', lower_is_better=True)} the baseline.")
    lines.append(f"Ranking: SRCC of the mean score {_fmt('srcc_mean', m['srcc_mean'])}, LCC "
                 f"{_fmt('lcc_mean', m['lcc_mean'])}; of the std: SRCC {_fmt('srcc_std', m['srcc_std'])} "
                 "(the trivial baseline ranks nothing: its correlations are undefined).")
    for thr in THRESHOLDS:
        key = f"accuracy@{thr}"
        lines.append(f"Binary accuracy at {thr}: {_fmt(key, m[key])}; always answering the training split's "
                     f"majority class ({result['majority_side'][str(thr)]} {thr}) gives {_fmt(key, maj[key])}: "
                     f"the model {_beats(result, key)} it.")
    return lines
