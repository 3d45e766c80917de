"""Figures of a sensitivity study (matplotlib): score curves with confidence bands, a facet of every
perturbation, a photo grid at increasing strength and the resize/padding comparison."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from nima_utils.study.perturbations import PERTURBATIONS


def _band(ax: plt.Axes, agg: pd.DataFrame, x: str, y: str, low: str, high: str, label: str) -> None:
    ax.plot(agg[x], agg[y], color="C3", lw=2.5, marker="o", label=label, zorder=3)
    ax.fill_between(agg[x], agg[low], agg[high], color="C3", alpha=0.2, lw=0, label="95% CI", zorder=2)


def _per_image(ax: plt.Axes, scores: pd.DataFrame, x: str, y: str) -> None:
    for _, g in scores.groupby("image", sort=False):
        ax.plot(g[x], g[y], color="0.55", lw=0.8, alpha=0.6, zorder=1)


def curves(scores: pd.DataFrame, agg: pd.DataFrame, name: str) -> Figure:
    """Mean score against the factor (per photo, and averaged with its 95% CI), and the change from
    the unedited photo (averaged with the paired 95% CI, which leaves out how photos differ)."""
    p = PERTURBATIONS[name]
    s, a = scores[scores.perturbation == name], agg[agg.perturbation == name]
    base = s[s.factor == p.identity].set_index("image")["mean"]
    s = s.assign(change=s["mean"] - s["image"].map(base))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    _per_image(left, s, "factor", "mean")
    _band(left, a, "factor", "mean", "ci_low", "ci_high", f"average of {s.image.nunique()} photos")
    left.set(xlabel=p.factor_label, ylabel="predicted mean score", title=f"{name}: score per photo (grey)")
    _per_image(right, s, "factor", "change")
    _band(right, a, "factor", "change", "change_ci_low", "change_ci_high", "average change")
    right.axhline(0, color="k", lw=0.8)
    right.set(xlabel=p.factor_label, ylabel="change from the unedited photo", title=f"{name}: change from identity")
    for ax in (left, right):
        ax.axvline(p.identity, color="k", ls=":", lw=0.8)
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def facets(scores: pd.DataFrame, agg: pd.DataFrame, names: Sequence[str], ncols: int = 4) -> Figure:
    """The change from the unedited photo against the factor, one panel per perturbation, on a
    shared score axis so that panels compare. At most about 11.5 inches wide: shown on a page about
    1100 px wide at 100 dpi, its text stays at its size."""
    ncols = max(1, min(ncols, len(names)))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.9 * ncols, 2.8 * nrows), sharey=True, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        p = PERTURBATIONS[name]
        s, a = scores[scores.perturbation == name], agg[agg.perturbation == name]
        base = s[s.factor == p.identity].set_index("image")["mean"]
        _per_image(ax, s.assign(change=s["mean"] - s["image"].map(base)), "factor", "change")
        _band(ax, a, "factor", "change", "change_ci_low", "change_ci_high", "average")
        ax.axhline(0, color="k", lw=0.8)
        ax.axvline(p.identity, color="k", ls=":", lw=0.8)
        ax.set(title=name, xlabel=p.factor_label)
    for ax in axes[:, 0]:
        ax.set_ylabel("change in mean score")
    for ax in list(axes.flat)[len(names):]:
        ax.remove()
    fig.tight_layout()
    return fig


def grid(photos: dict[str, Image.Image], scores: pd.DataFrame, name: str = "contrast", max_rows: int = 5,
         seed: int = 0, thumb: int = 200) -> Figure:
    """One photo a row at increasing strength of one perturbation, each with its predicted mean score."""
    p = PERTURBATIONS[name]
    s = scores[scores.perturbation == name]
    factors = sorted(s.factor.unique())
    rows = list(photos)[:max_rows]
    fig, axes = plt.subplots(len(rows), len(factors), figsize=(1.9 * len(factors), 1.75 * len(rows)), squeeze=False)
    for r, image in enumerate(rows):
        by_factor = s[s.image == image].set_index("factor")["mean"]
        for c, f in enumerate(factors):
            ax = axes[r, c]
            shown = p(photos[image], f, seed=seed)  # edit at full size, as scored, then shrink to show
            shown.thumbnail((thumb, thumb))
            ax.imshow(np.asarray(shown))
            ax.set_xticks([])
            ax.set_yticks([])
            bold = "bold" if f == p.identity else "normal"
            ax.set_title(f"{f:g}: {by_factor[f]:.2f}", fontsize=9, fontweight=bold)
        axes[r, 0].set_ylabel(image if len(image) < 16 else image[:13] + "...", fontsize=8)
    fig.suptitle(f"{p.factor_label} (title: factor, predicted mean score; bold: the unedited photo)", fontsize=10)
    fig.tight_layout()
    return fig


def inputs_plot(inputs: pd.DataFrame) -> Figure:
    """The mean score of each photo with every resize interpolation and padding layout; the card's
    own setting is marked."""
    studies = [s for s in ("resize", "padding") if s in set(inputs.perturbation)]
    fig, axes = plt.subplots(1, len(studies), figsize=(6 * len(studies), 4), squeeze=False)
    for ax, study in zip(axes[0], studies, strict=True):
        d = inputs[inputs.perturbation == study]
        settings = list(dict.fromkeys(d.setting))
        x = {s: i for i, s in enumerate(settings)}
        for _, g in d.groupby("image", sort=False):
            ax.plot(g.setting.map(x), g["mean"], color="0.55", lw=0.8, alpha=0.6, marker=".")
        avg = d.groupby("setting", sort=False)["mean"].mean()
        ax.plot(avg.index.map(x), avg.to_numpy(), color="C3", lw=2.5, marker="o", label="average")
        card = d[d.card].setting.iloc[0]
        ax.set_xticks(range(len(settings)), [f"{s}\n(card)" if s == card else s for s in settings])
        ax.set(title=f"{study} before the model", ylabel="predicted mean score", xlim=(-0.4, len(settings) - 0.6))
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
