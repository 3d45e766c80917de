"""What notebook 04 writes and says: its results table, its summary.json and its findings in words,
built from a study's scores so that the pipeline's index and tests read the same figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from nima_utils.model.card import ModelCard, label_kind
from nima_utils.study.display import md, md_code
from nima_utils.study.perturbations import PERTURBATIONS
from nima_utils.study.sensitivity import StudySample, fmt_level, trend

if TYPE_CHECKING:
    from nima_utils.model.weights import WeightsChoice

FEW_PHOTOS = 10
"""Below this many photos, the findings say the intervals are wide."""


def results_table(scores: pd.DataFrame, inputs: pd.DataFrame) -> pd.DataFrame:
    """Every score of the study in one table: image, kind (photo edit or model input), perturbation,
    level, whether the level is the identity (the card's own setting for inputs), mean and std."""
    edits = scores.rename(columns={"factor": "level"}).assign(
        kind="photo edit", identity=lambda d: d.level == d.perturbation.map(lambda n: PERTURBATIONS[n].identity))
    feeds = inputs.rename(columns={"setting": "level", "card": "identity"}).assign(kind="model input")
    return pd.concat([edits, feeds])[["image", "kind", "perturbation", "level", "identity", "mean", "std"]]


def summary(*, choice: WeightsChoice, card: ModelCard, sample: StudySample, n_photos: int, skipped: dict[str, str],
            scores: pd.DataFrame, studied: list[str], left_out: dict[str, str], table: pd.DataFrame,
            input_agg: pd.DataFrame, seed: int, seconds: dict[str, float]) -> dict[str, Any]:
    """Notebook 04's summary.json: the weights and why, the photos and where from, what was studied and
    left out (with why), the ranking, the trends of each edit and the input studies' average changes."""
    return {
        "weights": {"path": str(choice.path), "why": choice.why, "fingerprint": card.fingerprint,
                    "training_data": card.training_data, "labels": label_kind(card),
                    "trained_on_demo": label_kind(card) == "synthetic",
                    "resize": card.resize, "padding": card.padding, "input_size": card.input_size},
        "images": {"source": sample.described, "n": n_photos, "skipped": skipped,
                   "intervals": "Student t over photos (one version of each source photo)"},
        "perturbations": {n: {"factors": sorted(scores[scores.perturbation == n].factor.unique().tolist()),
                              "identity": PERTURBATIONS[n].identity, "factor": PERTURBATIONS[n].factor_label}
                          for n in studied},
        "left_out": left_out,
        "ranking": [{"rank": int(rank), **row} for rank, row in table.round(4).iterrows()],
        "trends": {name: trend(scores, name) for name in studied},
        "inputs": {study: g.set_index("setting")["change"].round(4).to_dict()
                   for study, g in input_agg.groupby("perturbation")},
        "seed": seed,
        "seconds": seconds,
    }


def _largest(ranking: list[dict[str, Any]], n_photos: int, weights: str) -> str:
    top = ", ".join(f"**{md(r['perturbation'])}** (range {r['range']:.2f}; lowest at {fmt_level(r['lowest_at'])}, "
                    f"{r['lowest_change']:+.2f})" for r in ranking[:3])
    return f"On {n_photos} photos with {md_code(weights)}, the largest effects on the mean score came from {top}."


def _contrast(summary: dict[str, Any]) -> list[str]:
    c = summary["trends"].get("contrast")
    row = next((r for r in summary["ranking"] if r["perturbation"] == "contrast"), None)
    if c is None or row is None:
        return []
    direction = "rises" if c["spearman_factor_vs_score"] > 0 else "falls"
    return [f"The averaged score {direction} with contrast (Spearman {c['spearman_factor_vs_score']:+.2f} over "
            f"factors): {c['change_at_lowest']:+.2f} at the lowest factor, {c['change_at_highest']:+.2f} at the "
            f"highest; the best factor was {fmt_level(row['highest_at'])} ({row['highest_change']:+.2f})."]


def _inputs(summary: dict[str, Any]) -> list[str]:
    weights, inputs = summary["weights"], summary["inputs"]
    resize = {k: v for k, v in inputs.get("resize", {}).items() if k != weights["resize"]}
    if not resize:
        return []
    worst = min(resize, key=resize.get)
    line = (f"Resizing other than the card's {md(weights['resize'])} changed the average score by "
            f"{resize[worst]:+.2f} ({md(worst)}) to {max(resize.values()):+.2f}")
    padding = {k: v for k, v in inputs.get("padding", {}).items() if k != weights["padding"]}
    if padding:
        per_photo = next((r["mean_abs_change"] for r in summary["ranking"] if r["perturbation"] == "padding"), None)
        line += f"; the other padding layout moved it by {next(iter(padding.values())):+.2f} on average"
        line += f", {per_photo:.2f} per photo" if per_photo is not None else ""
    return [line + "."]


def findings(summary: dict[str, Any]) -> list[str]:
    """A few plain sentences on what the study found, from its `summary` (no figure recomputed); Markdown,
    with every value from a card, a file name or the config escaped."""
    n, weights = summary["images"]["n"], summary["weights"]
    lines = [_largest(summary["ranking"], n, Path(weights["path"]).name), *_contrast(summary), *_inputs(summary)]
    for name, why in summary.get("left_out", {}).items():
        lines.append(f"**{md(name)}** was left out: it {md(why)}, so it could show no effect here.")
    trust = (f"{n} photos are few: the 95% intervals (over photos, one version of each) are wide; read the "
             "averages as a direction, not a size." if n < FEW_PHOTOS else
             f"The 95% intervals are over the {n} photos (one version of each): they say how far to trust each "
             "average.")
    if weights.get("labels") == "synthetic" or weights.get("trained_on_demo"):
        trust += " This model learned the demo's synthetic labels, so these are the demo's degradations, not taste."
    return [*lines, trust]
