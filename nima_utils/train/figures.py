"""Notebook 02's figure: the learning curves of each phase and the learning-rate schedule."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

TITLES = {"head": "phase 1: head on frozen features", "finetune": "all layers"}


def learning_curves(history: pd.DataFrame, best_epoch: str, best_val_emd: float) -> Figure:
    """Training and validation EMD per phase, the kept epoch marked (`best_epoch` is "head 12" or
    "finetune 2"), and the base's and head's learning rates per epoch."""
    phases = [(name, history[history["phase"] == name]) for name in ("head", "finetune")]
    phases = [(name, part) for name, part in phases if len(part)]
    fig, axes = plt.subplots(1, len(phases) + 1, figsize=(6 * (len(phases) + 1), 4))
    for ax, (name, part) in zip(axes[:-1], phases, strict=True):
        marker = "o" if len(part) < 30 else None
        ax.plot(part["epoch"], part["train_emd"], marker=marker, label="train (dropout, augmentation)")
        ax.plot(part["epoch"], part["val_emd"], marker=marker, label="validation")
        ax.set(title=f"EMD, {TITLES[name]}", xlabel="epoch", ylabel="EMD")
        ax.legend()
    best_phase, epoch = best_epoch.split()
    best_ax = axes[[name for name, _ in phases].index(best_phase)]
    best_ax.axvline(int(epoch), color="k", ls="--", lw=1)
    best_ax.annotate("kept", (int(epoch), best_val_emd), textcoords="offset points", xytext=(-30, -14))
    rates = history[["lr_base", "lr_head"]].replace(0.0, float("nan")).reset_index(drop=True)
    axes[-1].step(rates.index + 1, rates["lr_base"], where="post", label="base (frozen in phase 1)")
    axes[-1].step(rates.index + 1, rates["lr_head"], where="post", label="head")
    axes[-1].set(title="learning rates", xlabel="epoch (phase 1, then all layers)", yscale="log")
    axes[-1].legend()
    fig.tight_layout()
    return fig
