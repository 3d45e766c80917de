"""Notebook 02's figure: the learning curves of each phase and the learning-rate schedule."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

TITLES = {"head": "phase 1: head, frozen base", "finetune": "all layers"}


def learning_curves(history: pd.DataFrame, best_epoch: str, best_val_emd: float) -> Figure:
    """Training and validation EMD per phase, the kept epoch marked and named in the legend (`best_epoch`
    is "head 12" or "finetune 2"), and the base's and head's learning rates per epoch. About 11.4 inches
    wide, so the run index shows its text at size; equal rates stay visible (base dashed over a wide head)."""
    phases = [(name, history[history["phase"] == name]) for name in ("head", "finetune")]
    phases = [(name, part) for name, part in phases if len(part)]
    fig, axes = plt.subplots(1, len(phases) + 1, figsize=(3.8 * (len(phases) + 1), 3.6))
    best_phase, epoch = best_epoch.split()
    for ax, (name, part) in zip(axes[:-1], phases, strict=True):
        marker = "o" if len(part) < 30 else None
        ax.plot(part["epoch"], part["train_emd"], marker=marker, label="train (dropout, augmentation)")
        ax.plot(part["epoch"], part["val_emd"], marker=marker, label="validation")
        if name == best_phase:  # named in the legend, never written over the axis ticks
            ax.axvline(int(epoch), color="k", ls="--", lw=1, label=f"kept: epoch {epoch} (val. {best_val_emd:.4f})")
        ax.set(title=f"EMD, {TITLES[name]}", xlabel="epoch", ylabel="EMD")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no 1.2, 1.4 ticks
        ax.legend(fontsize=8)
    rates = history[["lr_base", "lr_head"]].replace(0.0, float("nan")).reset_index(drop=True)
    marker = "o" if len(rates) < 30 else None
    axes[-1].step(rates.index + 1, rates["lr_head"], where="post", color="C1", lw=5, alpha=0.4, marker=marker,
                  label="head")
    # a base that trains only a few epochs after a long head phase gets dots, or its segment is too short to see
    base_marker = "o" if rates["lr_base"].notna().sum() < 30 else None
    axes[-1].step(rates.index + 1, rates["lr_base"], where="post", color="C0", lw=1.5, ls="--", marker=base_marker,
                  ms=4, label="base (frozen in phase 1)")
    axes[-1].set(title="learning rates", xlabel="epoch (phase 1, then all layers)", yscale="log")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    return fig
