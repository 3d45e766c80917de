"""Ranking within groups: does a model order the versions of each unseen photo right? On the demo a
group is one source photo (its crops and edits); the pooled SRCC also asks it to place photos at the
right levels, which synthetic labels with a random quality per photo make partly unlearnable."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.stats


def group_ranking(frame: pd.DataFrame, groups: pd.Series | dict[str, str]) -> dict[str, Any] | None:
    """SRCC of the predicted against the human mean score within each group of at least 3 images
    (`frame`: notebook 03's predictions, image_id, pred_mean, true_mean; None where a group's
    predictions are constant), the mean of those defined, and the pooled SRCC over all images. None
    when no image has a group."""
    group = frame["image_id"].map(dict(groups))
    if group.isna().all():
        return None
    per_group: dict[str, float | None] = {}
    for name, part in frame.assign(group=group).dropna(subset=["group"]).groupby("group", sort=True):
        if len(part) < 3:
            continue
        constant = part["pred_mean"].nunique() < 2 or part["true_mean"].nunique() < 2  # SRCC undefined: None
        per_group[str(name)] = None if constant else float(
            scipy.stats.spearmanr(part["pred_mean"], part["true_mean"]).statistic)
    defined = [v for v in per_group.values() if v is not None]
    pooled = scipy.stats.spearmanr(frame["pred_mean"], frame["true_mean"]).statistic
    return {"within_group_srcc_mean": float(np.mean(defined)) if defined else None,
            "pooled_srcc_mean": None if np.isnan(pooled) else float(pooled),
            "n_groups": len(per_group), "by_group": per_group}


def finding(ranking: dict[str, Any] | None, goal: float = 0.6) -> str | None:
    """One sentence on the ranking within groups, against the demo's goal (`goal` on average)."""
    if not ranking or ranking["within_group_srcc_mean"] is None:
        return None
    value = ranking["within_group_srcc_mean"]
    each = ", ".join(f"{name} {'undefined' if srcc is None else f'{srcc:.2f}'}"
                     for name, srcc in ranking["by_group"].items())
    return (f"Within each of the {ranking['n_groups']} groups (source photos) the versions are ranked with an SRCC "
            f"of the mean of {value:.2f} on average ({each}; {'at least' if value >= goal else 'below'} the demo's "
            f"goal of {goal}); pooled over all images the SRCC is {ranking['pooled_srcc_mean']:.2f}.")
