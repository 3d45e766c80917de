"""The paper's metrics with percentile bootstrap intervals, for the model and its two baselines (the
trivial prediction and the majority class) on the same resamples, so their differences are paired."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nima_utils.model.metrics import METRICS, THRESHOLDS, emd, mean_score, std_score, trivial_prediction

if TYPE_CHECKING:
    from nima_utils.study.evaluate import Predictions


def majority_above(train_true: np.ndarray, threshold: float) -> bool:
    """The majority class of the training split at `threshold`: True when most means lie above it."""
    return bool(np.mean(mean_score(train_true) > threshold) >= 0.5)


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row pair of (B, n) arrays; NaN where a row is constant."""
    constant = (np.ptp(a, axis=1) == 0) | (np.ptp(b, axis=1) == 0)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.where(constant, np.nan, np.clip(r, -1.0, 1.0))


def _rank_codes(values: np.ndarray) -> tuple[int, np.ndarray]:
    """(number of distinct values, each value's index among them): what ranking a resample needs."""
    unique, inverse = np.unique(values, return_inverse=True)
    return len(unique), inverse


def _resample_ranks(values: np.ndarray, idx: np.ndarray, codes: tuple[int, np.ndarray] | None = None) -> np.ndarray:
    """Average ranks (ties share their mean rank, as Spearman's) of values[idx] within each row of
    the resamples idx (B, n), by counting instead of sorting every row: O(B n). `codes` (from
    `_rank_codes(values)`) spares the sort of all values on every chunk of resamples."""
    u, inverse = codes if codes is not None else _rank_codes(values)
    b = len(idx)
    codes_ = inverse[idx]
    counts = np.bincount((codes_ + u * np.arange(b)[:, None]).ravel(), minlength=b * u).reshape(b, u)
    below = np.cumsum(counts, axis=1) - counts
    rank_of = below + (counts + 1) / 2.0
    return np.take_along_axis(rank_of, codes_, axis=1)


def _per_image(pred: np.ndarray, true: np.ndarray) -> dict[str, Any]:
    """What every resample reads, computed once (per chunk it made the bootstrap O(n^2) in images)."""
    pm, tm, ps, ts = mean_score(pred), mean_score(true), std_score(pred), std_score(true)
    return {"emd": emd(pred, true), "mean": (pm, tm), "std": (ps, ts),
            "codes": {"mean": (_rank_codes(pm), _rank_codes(tm)), "std": (_rank_codes(ps), _rank_codes(ts))}}


def _statistics(per: dict[str, Any], idx: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric on the resamples `idx` (B, n) of the images: (B,) values each."""
    out = {"emd": per["emd"][idx].mean(axis=1)}
    for name in ("mean", "std"):
        (p, t), (pc, tc) = per[name], per["codes"][name]
        out[f"lcc_{name}"] = _rowwise_pearson(p[idx], t[idx])
        out[f"srcc_{name}"] = _rowwise_pearson(_resample_ranks(p, idx, pc), _resample_ranks(t, idx, tc))
    pm, tm = per["mean"]
    for thr in THRESHOLDS:
        out[f"accuracy@{thr}"] = ((pm > thr) == (tm > thr))[idx].mean(axis=1)
    return {name: out[name] for name in METRICS}


def _majority_statistics(tm: np.ndarray, above: dict[float, bool], idx: np.ndarray) -> dict[str, np.ndarray]:
    """The majority class's accuracies on the resamples `idx`, from the true mean scores `tm`."""
    return {f"accuracy@{t}": ((tm > t) == above[t])[idx].mean(axis=1) for t in THRESHOLDS}


def _bootstrap(stats, n: int, n_resamples: int, seed: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """`stats(idx)` on all images and on `n_resamples` seeded resamples of them (with replacement).
    The same seed and n give the same resamples, so results of two calls can be paired."""
    point = {name: float(v[0]) for name, v in stats(np.arange(n)[None, :]).items()}
    samples: dict[str, list[np.ndarray]] = {name: [] for name in point}
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // max(n, 1))  # bounds memory: chunk x n indices at a time
    for start in range(0, n_resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
        for name, values in stats(idx).items():
            samples[name].append(values)
    return point, {name: np.concatenate(v) if v else np.empty(0) for name, v in samples.items()}


def _interval(value: float, samples: np.ndarray, confidence: float) -> dict[str, float | None]:
    """{"value", "low", "high"}: the percentile interval of the samples that are defined; None for NaN."""
    samples = samples[~np.isnan(samples)]
    low = high = None
    if len(samples):
        alpha = (1.0 - confidence) / 2.0
        low, high = (float(q) for q in np.quantile(samples, [alpha, 1.0 - alpha]))
    return {"value": None if np.isnan(value) else value, "low": low, "high": high}


def bootstrap_metrics(pred: np.ndarray, true: np.ndarray, n_resamples: int = 1000, seed: int = 0,
                      confidence: float = 0.95, above: dict[float, bool] | None = None
                      ) -> dict[str, dict[str, float | None]]:
    """Each metric's value on all images and its percentile bootstrap interval (images resampled
    with replacement; the same resamples for every metric). With `above` (the majority class per
    threshold) it evaluates the majority-class predictor's accuracies instead of `pred`.

    Returns {metric: {"value", "low", "high"}}; NaN (a constant predictor's correlation) is None.
    """
    point, samples = _bootstrap(_stats_fn(pred, true, above), len(true), n_resamples, seed)
    return {name: _interval(point[name], samples[name], confidence) for name in point}


def _stats_fn(pred: np.ndarray, true: np.ndarray, above: dict[float, bool] | None = None):
    true = np.asarray(true, dtype=np.float64)
    if above is not None:
        tm = mean_score(true)
        return lambda idx: _majority_statistics(tm, above, idx)
    per = _per_image(np.asarray(pred, dtype=np.float64), true)
    return lambda idx: _statistics(per, idx)


def evaluate_split(pred: Predictions, train_true: np.ndarray, n_resamples: int = 1000, seed: int = 0,
                   confidence: float = 0.95) -> dict[str, Any]:
    """The model, the trivial baseline and the majority class on the same bootstrap resamples, and
    paired intervals of the model's advantage: its EMD minus the trivial baseline's, its accuracies
    minus the majority class's."""
    n = len(pred.ids)
    above = {t: majority_above(train_true, t) for t in THRESHOLDS}
    runs = {
        "model": _bootstrap(_stats_fn(pred.pred, pred.true), n, n_resamples, seed),
        "trivial_baseline": _bootstrap(_stats_fn(trivial_prediction(train_true, n), pred.true), n, n_resamples,
                                       seed),
        "majority_class": _bootstrap(_stats_fn(None, pred.true, above), n, n_resamples, seed),
    }
    result: dict[str, Any] = {"n_images": n}
    for who, (point, samples) in runs.items():
        result[who] = {name: _interval(point[name], samples[name], confidence) for name in point}
    differences = {"emd": "trivial_baseline", **{f"accuracy@{t}": "majority_class" for t in THRESHOLDS}}
    result["paired_differences"] = {}
    for metric, other in differences.items():
        (mp, ms), (op, os_) = runs["model"], runs[other]
        result["paired_differences"][metric] = {"against": other,
                                                **_interval(mp[metric] - op[metric], ms[metric] - os_[metric],
                                                            confidence)}
    result["majority_side"] = {str(t): "above" if above[t] else "at or below" for t in THRESHOLDS}
    result["bootstrap"] = {"resamples": n_resamples, "seed": seed, "confidence": confidence,
                           "method": "percentile, images resampled with replacement, the same resamples for "
                                     "the model and the baselines (paired)"}
    return result
