"""The label statistics users check AVA against: votes per image, mean scores, spreads, and their figure."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def label_stats(table: pd.DataFrame) -> dict[str, float]:
    """Summary of a label table with `votes`, `mean` and `std` columns (see `ava.with_distribution`).

    On the full AVA: about 210 votes per image and a mean score of about 5.38.
    """
    return {
        "images": len(table),
        "votes_mean": float(table["votes"].mean()),
        "votes_median": float(table["votes"].median()),
        "votes_min": int(table["votes"].min()),
        "votes_max": int(table["votes"].max()),
        "mean_score_mean": float(table["mean"].mean()),
        "mean_score_std": float(table["mean"].std()),
        "mean_score_min": float(table["mean"].min()),
        "mean_score_max": float(table["mean"].max()),
        "std_mean": float(table["std"].mean()),
        "share_above_5": float((table["mean"] > 5.0).mean()),
        "share_above_5_1": float((table["mean"] > 5.1).mean()),
    }


def label_stats_figure(table: pd.DataFrame) -> Figure:
    """Notebook 01's figure of a label table: mean score per image (the 5.0 cut marked), votes per
    image, and the spread of the votes against the mean."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    sns.histplot(table["mean"], bins=40, ax=axes[0]).set(title="mean score per image", xlabel="mean score")
    axes[0].axvline(5.0, color="k", ls="--", lw=1)
    sns.histplot(table["votes"], bins=40, ax=axes[1]).set(title="votes per image", xlabel="votes")
    sns.scatterplot(x=table["mean"], y=table["std"], s=6, alpha=0.4, ax=axes[2]).set(
        title="spread vs. mean", xlabel="mean score", ylabel="std of votes")
    fig.tight_layout()
    return fig
def stats_table(stats: dict[str, float]) -> pd.DataFrame:
    """`label_stats` as a readable table: named rows, counts as whole numbers, scores to 2 decimals,
    shares as percentages (not "322.000000")."""
    rows = {
        "images": f"{stats['images']:,}",
        "votes per image: mean, median": f"{stats['votes_mean']:.1f}, {stats['votes_median']:.1f}",
        "votes per image: fewest, most": f"{stats['votes_min']:,}, {stats['votes_max']:,}",
        "mean score: average, std": f"{stats['mean_score_mean']:.2f}, {stats['mean_score_std']:.2f}",
        "mean score: lowest, highest": f"{stats['mean_score_min']:.2f}, {stats['mean_score_max']:.2f}",
        "std of votes, average": f"{stats['std_mean']:.2f}",
        "share with mean above 5.0": f"{stats['share_above_5']:.1%}",
        "share with mean above 5.1": f"{stats['share_above_5_1']:.1%}",
    }
    return pd.Series(rows).to_frame("value")
