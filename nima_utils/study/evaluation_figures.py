"""The figures of an evaluation, drawn from its predictions table (see `evaluate.Predictions.frame`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.stats
import seaborn as sns
from matplotlib.figure import Figure

from nima_utils.data.cleanup import image_path
from nima_utils.images import ImageLoadError, load_image
from nima_utils.model.metrics import THRESHOLDS


def _identity(fig: Figure, ax: plt.Axes, low: float, high: float, **labels: str) -> Figure:
    """Finish a predicted-vs-human scatter: the line prediction = truth, square limits, labels, legend."""
    ax.plot([low, high], [low, high], color="k", lw=1, ls="--", label="prediction = truth")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal")
    ax.set(**labels)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def _limits(*columns: pd.Series, pad: float = 0.2) -> tuple[float, float]:
    values = pd.concat(columns)
    return float(values.min()) - pad, float(values.max()) + pad


def _density(x: pd.Series, y: pd.Series) -> np.ndarray | None:
    """Gaussian kernel density at each point, or None where it is undefined (e.g. a constant predictor)."""
    try:
        xy = np.vstack([x, y])
        return scipy.stats.gaussian_kde(xy)(xy)
    except (np.linalg.LinAlgError, ValueError):
        return None


def mean_scatter(frame: pd.DataFrame, hexbin_from: int = 2000) -> Figure:
    """Predicted vs. human mean score with the density of points: each point coloured by a kernel
    density estimate, or hexagonal bins from `hexbin_from` images on; lines at the 5.0 cut."""
    fig, ax = plt.subplots(figsize=(6, 5.5))
    low, high = _limits(frame["true_mean"], frame["pred_mean"])
    x, y = frame["true_mean"], frame["pred_mean"]
    if len(frame) >= hexbin_from:
        hb = ax.hexbin(x, y, gridsize=50, mincnt=1, cmap="viridis", extent=(low, high, low, high))
        fig.colorbar(hb, ax=ax, label="images per bin")
    else:
        density = _density(x, y)
        points = ax.scatter(x, y, c=density, s=14, cmap="viridis" if density is not None else None)
        if density is not None:
            fig.colorbar(points, ax=ax, label="density of images")
    ax.axvline(5.0, color="grey", lw=0.8)
    ax.axhline(5.0, color="grey", lw=0.8)
    return _identity(fig, ax, low, high, xlabel="human mean score", ylabel="predicted mean score",
                     title="predicted vs. human mean score")


def std_scatter(frame: pd.DataFrame) -> Figure:
    """Predicted vs. human standard deviation of the scores."""
    fig, ax = plt.subplots(figsize=(6, 5.5))
    low, high = _limits(frame["true_std"], frame["pred_std"], pad=0.1)
    ax.scatter(frame["true_std"], frame["pred_std"], s=12, alpha=0.5)
    return _identity(fig, ax, low, high, xlabel="human score std", ylabel="predicted score std",
                     title="predicted vs. human score std")


def histograms(frame: pd.DataFrame) -> Figure:
    """The distributions of predicted and human mean scores, overlaid."""
    fig, ax = plt.subplots(figsize=(8, 4))
    long = pd.concat([pd.DataFrame({"mean score": frame["true_mean"], "who": "human"}),
                      pd.DataFrame({"mean score": frame["pred_mean"], "who": "predicted"})], ignore_index=True)
    bins = np.linspace(*_limits(frame["true_mean"], frame["pred_mean"]), 31)
    sns.histplot(long, x="mean score", hue="who", bins=bins, element="step", ax=ax)
    for t in THRESHOLDS:
        ax.axvline(t, color="k", lw=0.8, ls="--" if t == 5.0 else ":")
    ax.set(title="mean scores: human vs. predicted (dashed: 5.0, dotted: 5.1)", ylabel="images")
    fig.tight_layout()
    return fig


def error_by_bin(frame: pd.DataFrame, width: float = 0.5) -> Figure:
    """Prediction error of the mean score (predicted - human) by bins of the human mean score."""
    low = np.floor(frame["true_mean"].min() / width) * width
    high = np.ceil(frame["true_mean"].max() / width) * width + width / 2
    edges = np.arange(low, high, width)
    if len(edges) < 2:
        edges = np.array([low, low + width])
    data = pd.DataFrame({
        "human mean score": pd.cut(frame["true_mean"], edges, include_lowest=True),
        "error": frame["pred_mean"] - frame["true_mean"],
    })
    counts = data["human mean score"].value_counts(sort=False)
    fig, ax = plt.subplots(figsize=(9, 4))
    sns.boxplot(data, x="human mean score", y="error", ax=ax, color="tab:blue", fliersize=2)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(counts)),
                  [f"{iv.left:.1f}-{iv.right:.1f}\nn={n}" for iv, n in zip(counts.index, counts, strict=True)],
                  fontsize=8)
    ax.set(ylabel="predicted - human mean score", title="error by human mean score")
    fig.tight_layout()
    return fig


def confusion(frame: pd.DataFrame) -> Figure:
    """2x2 confusion matrices of the binary decision at each threshold (counts and row shares)."""
    fig, axes = plt.subplots(1, len(THRESHOLDS), figsize=(5 * len(THRESHOLDS), 4))
    for ax, t in zip(np.atleast_1d(axes), THRESHOLDS, strict=True):
        true, pred = frame["true_mean"] > t, frame["pred_mean"] > t
        counts = np.array([[np.sum(~true & ~pred), np.sum(~true & pred)], [np.sum(true & ~pred), np.sum(true & pred)]])
        rows = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
        labels = [[f"{c}\n{s:.0%}" for c, s in zip(rc, rs, strict=True)] for rc, rs in zip(counts, shares, strict=True)]
        sns.heatmap(shares, annot=labels, fmt="", cmap="Blues", vmin=0, vmax=1, cbar=False, ax=ax,
                    xticklabels=[f"≤ {t}", f"> {t}"], yticklabels=[f"≤ {t}", f"> {t}"])
        ax.set(xlabel="predicted", ylabel="human", title=f"threshold {t}: accuracy {np.mean(true == pred):.1%}")
    fig.tight_layout()
    return fig


def image_grid(frame: pd.DataFrame, images_dir: str | Path, title: str, columns: int = 6) -> Figure:
    """Thumbnails of the images in `frame` (in its order), each titled with predicted and human scores."""
    rows = max(1, -(-len(frame) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(max(2.6 * columns, 8.0), 3.1 * rows + 0.4), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (_, row) in zip(axes.ravel(), frame.iterrows(), strict=False):
        try:
            img = load_image(image_path(images_dir, row["image_id"]))
            img.thumbnail((320, 320))
            ax.imshow(np.asarray(img))
        except ImageLoadError as exc:
            ax.text(0.5, 0.5, f"cannot show:\n{exc}", ha="center", va="center", fontsize=7, wrap=True)
        ax.set_title(f"{row['image_id']}\npred {row['pred_mean']:.2f} · human {row['true_mean']:.2f}", fontsize=8)
    fig.suptitle(title)
    return fig


def best_and_worst(frame: pd.DataFrame, images_dir: str | Path, n: int = 6) -> Figure:
    """The n highest and n lowest predicted mean scores (first row best, second row worst)."""
    ranked = frame.sort_values("pred_mean", ascending=False)
    n = min(n, len(frame) // 2) or 1
    return image_grid(pd.concat([ranked.head(n), ranked.tail(n)[::-1]]), images_dir,
                      "highest (top row) and lowest (bottom row) predicted scores", columns=n)


def largest_errors(frame: pd.DataFrame, images_dir: str | Path, n: int = 12, columns: int = 6) -> Figure:
    """The n images whose predicted mean is furthest from the human mean."""
    order = (frame["pred_mean"] - frame["true_mean"]).abs().sort_values(ascending=False).index
    return image_grid(frame.loc[order[:n]], images_dir, "largest errors of the mean score",
                      columns=min(columns, n, len(frame)))
