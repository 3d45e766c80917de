"""Figures of notebook 05: a photo beside its predicted distribution, a row of slider settings, and
Grad-CAM maps over the photos as the model saw them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from nima_utils.model.metrics import SCORES
from nima_utils.study.explore import Exploration
from nima_utils.study.saliency import TARGETS, Saliency, overlay


def bars(ax: plt.Axes, probs: np.ndarray, mean: float, std: float) -> None:
    """The predicted distribution over scores 1..10, with its mean and standard deviation."""
    ax.bar(SCORES, probs, color="#4c72b0")
    ax.axvline(mean, color="#c44e52", lw=1.5)
    ax.set(xticks=SCORES, xlim=(0.4, 10.6), ylim=(0, max(0.5, float(probs.max()) * 1.1)), xlabel="score",
           title=f"mean {mean:.2f} · std {std:.2f}")


def prediction_figure(result: Exploration, title: str = "", saliency: Saliency | None = None) -> plt.Figure:
    """The edited photo, its Grad-CAM map over the model's view when given, and the predicted distribution."""
    ratios = [1.2, 1.0, 1.1] if saliency is not None else [1.2, 1.1]
    fig, axes = plt.subplots(1, len(ratios), figsize=(3.3 * len(ratios), 3.4), gridspec_kw={"width_ratios": ratios})
    photo, dist = axes[0], axes[-1]
    photo.imshow(result.edited)
    photo.set_axis_off()
    photo.set_title(title or result.settings.label, fontsize=10)
    if saliency is not None:
        axes[1].imshow(overlay(result.view, saliency.heatmap))
        axes[1].set_axis_off()
        axes[1].set_title(f"Grad-CAM: {saliency.target}, as the model sees it", fontsize=9)
    bars(dist, result.probs, result.mean, result.std)
    dist.set_ylabel("probability")
    fig.tight_layout()
    return fig


def settings_figure(results: list[Exploration], photo_name: str) -> plt.Figure:
    """One photo under several slider settings: the edited photo above its predicted distribution."""
    n = len(results)
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 4.6), squeeze=False)
    for col, r in enumerate(results):
        axes[0, col].imshow(r.edited)
        axes[0, col].set_axis_off()
        axes[0, col].set_title(r.settings.label, fontsize=9)
        bars(axes[1, col], r.probs, r.mean, r.std)
        axes[1, col].title.set_fontsize(9)
        axes[1, col].tick_params(labelsize=7)
    fig.suptitle(f"{photo_name}: slider settings and the predicted distribution", fontsize=10)
    fig.tight_layout()
    return fig


def saliency_figure(views: dict[str, np.ndarray], maps: dict[str, list[Saliency]]) -> plt.Figure:
    """One row per photo: the model's view, then its Grad-CAM map for each target overlaid on it."""
    names, targets = list(views), list(maps)
    fig, axes = plt.subplots(len(names), 1 + len(targets), figsize=(2.6 * (1 + len(targets)), 2.7 * len(names)),
                             squeeze=False)
    for row, name in enumerate(names):
        axes[row, 0].imshow(views[name])
        axes[row, 0].set_title(name, fontsize=9)
        for col, target in enumerate(targets, start=1):
            s = maps[target][row]
            axes[row, col].imshow(overlay(views[name], s.heatmap))
            value = f"{s.value:.2f}" if target == "mean" else f"{s.value:.0%}"
            axes[row, col].set_title(f"{target} ({value})", fontsize=9)
    for ax in axes.flat:
        ax.set_axis_off()
    layer = next(iter(maps.values()))[0].layer if maps else ""
    fig.suptitle(f"Grad-CAM on {layer}: " + "; ".join(f"{t}: {TARGETS[t]}" for t in targets), fontsize=8)
    fig.tight_layout()
    return fig
