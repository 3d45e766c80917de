"""Score-distribution statistics and the evaluation metrics of the NIMA paper (NumPy/SciPy)."""

from __future__ import annotations

import numpy as np

SCORES = np.arange(1, 11, dtype=np.float64)
"""The ten rating buckets of AVA, 1..10."""
THRESHOLDS = (5.0, 5.1)
"""Binary cuts on the mean score: the paper's 5.0 and the service's 5.1."""
METRICS = ("emd", "srcc_mean", "lcc_mean", "srcc_std", "lcc_std", *[f"accuracy@{t}" for t in THRESHOLDS])
"""Every metric's name, in the order tables show them: the one vocabulary of training, evaluation and reports."""


def _as_2d(p: np.ndarray) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[-1] != 10:
        raise ValueError(f"expected score distributions of shape (N, 10) or (10,), got {np.shape(p)}")
    return arr


def normalize(counts: np.ndarray) -> np.ndarray:
    """Vote counts (N, 10) -> probability distributions; rows without votes are rejected."""
    arr = _as_2d(counts)
    if (arr < 0).any():
        raise ValueError("vote counts must be non-negative")
    totals = arr.sum(axis=1, keepdims=True)
    if (totals == 0).any():
        raise ValueError("a distribution has no votes at all")
    out = arr / totals
    return out[0] if np.ndim(counts) == 1 else out


def mean_score(p: np.ndarray) -> np.ndarray:
    """Mean of a score distribution over 1..10 (a float for one distribution)."""
    arr = _as_2d(p)
    out = arr @ SCORES
    return out[0] if np.ndim(p) == 1 else out


def std_score(p: np.ndarray) -> np.ndarray:
    """Standard deviation of a score distribution over 1..10."""
    arr = _as_2d(p)
    mu = arr @ SCORES
    out = np.sqrt(np.maximum(arr @ (SCORES**2) - mu**2, 0.0))
    return out[0] if np.ndim(p) == 1 else out


def emd(p: np.ndarray, q: np.ndarray, r: float = 2.0) -> np.ndarray:
    """Earth mover's distance of the paper: (mean_k |CDF_p(k) - CDF_q(k)|^r)^(1/r), per row."""
    a, b = _as_2d(p), _as_2d(q)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    diff = np.abs(np.cumsum(a, axis=1) - np.cumsum(b, axis=1))
    out = np.mean(diff**r, axis=1) ** (1.0 / r)
    return out[0] if np.ndim(p) == 1 else out


def srcc(pred: np.ndarray, true: np.ndarray) -> float:
    """Spearman rank correlation (e.g. between predicted and human mean scores)."""
    import scipy.stats  # here: seconds to import, and `nima` reads metrics at start-up

    return float(scipy.stats.spearmanr(pred, true).statistic)


def lcc(pred: np.ndarray, true: np.ndarray) -> float:
    """Pearson linear correlation coefficient."""
    import scipy.stats

    return float(scipy.stats.pearsonr(pred, true).statistic)


def binary_accuracy(pred_mean: np.ndarray, true_mean: np.ndarray, threshold: float = 5.0) -> float:
    """Share of images put on the same side of `threshold` (paper: 5.0; the service: 5.1)."""
    pred_mean, true_mean = np.asarray(pred_mean), np.asarray(true_mean)
    return float(np.mean((pred_mean > threshold) == (true_mean > threshold)))


def evaluate(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """All paper metrics (`METRICS`) for predicted vs. human distributions (N, 10), and `n`."""
    pm, tm = mean_score(pred), mean_score(true)
    ps, ts = std_score(pred), std_score(true)
    return {
        "n": len(pm),
        "emd": float(np.mean(emd(pred, true))),
        "srcc_mean": srcc(pm, tm),
        "lcc_mean": lcc(pm, tm),
        "srcc_std": srcc(ps, ts),
        "lcc_std": lcc(ps, ts),
        **{f"accuracy@{t}": binary_accuracy(pm, tm, t) for t in THRESHOLDS},
    }


def trivial_prediction(train_true: np.ndarray, n: int) -> np.ndarray:
    """The trivial baseline: the training split's mean distribution, for every one of `n` images."""
    train_true = np.asarray(train_true, dtype=np.float64)
    if train_true.ndim != 2 or len(train_true) == 0:
        raise ValueError("the trivial baseline needs the training split's distributions (N >= 1, 10)")
    return np.tile(train_true.mean(axis=0), (n, 1))
