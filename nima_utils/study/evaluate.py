"""Evaluating a NIMA model on a labelled split: predictions fed as the model card prescribes, the
paper's metrics with bootstrap confidence intervals, the baselines, and the published figures."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nima_utils.data.cleanup import image_path
from nima_utils.data.splits import SPLITS
from nima_utils.model.card import ModelCard
from nima_utils.model.engine import Engine
from nima_utils.model.metrics import emd, mean_score, std_score
from nima_utils.scoring import score_images

THRESHOLDS = (5.0, 5.1)
"""Binary cuts on the mean score: the paper's 5.0 and the service's 5.1."""
METRICS = ("emd", "srcc_mean", "lcc_mean", "srcc_std", "lcc_std", *[f"accuracy@{t}" for t in THRESHOLDS])
"""Every metric, in the order tables show them; correlations are NaN for a constant predictor."""
LABELS = {
    "emd": "EMD (lower is better)",
    "srcc_mean": "SRCC of the mean score",
    "lcc_mean": "LCC of the mean score",
    "srcc_std": "SRCC of the score std",
    "lcc_std": "LCC of the score std",
    **{f"accuracy@{t}": f"binary accuracy at {t}" for t in THRESHOLDS},
}
PUBLISHED = [
    {"model": "NIMA MobileNet (paper)", "accuracy@5.0": 0.8036, "lcc_mean": 0.518, "srcc_mean": 0.510,
     "emd": 0.081, "test data": "AVA, the paper authors' test split"},
    {"model": "NIMA VGG16 (paper)", "accuracy@5.0": 0.8060, "lcc_mean": 0.610, "srcc_mean": 0.592,
     "emd": 0.051, "test data": "AVA, the paper authors' test split"},
    {"model": "NIMA Inception-v2 (paper)", "accuracy@5.0": 0.8151, "lcc_mean": 0.638, "srcc_mean": 0.612,
     "emd": 0.050, "test data": "AVA, the paper authors' test split"},
    {"model": "idealo MobileNet (published)", "accuracy@5.0": None, "lcc_mean": 0.626, "srcc_mean": 0.609,
     "emd": 0.071, "test data": "AVA, idealo's own test split"},
]
"""Published AVA test figures (Talebi & Milanfar 2018, Table; idealo/image-quality-assessment README)."""


class EvaluationError(RuntimeError):
    """The split cannot be evaluated (no images could be scored, labels missing...)."""


@dataclasses.dataclass
class DataSummary:
    """What evaluation needs from notebook 01's summary.json."""

    path: Path
    source: str
    split_scheme: str
    images_dir: Path
    splits_dir: Path
    cache_dir: Path | None
    cache_size: int | None

    @property
    def synthetic_labels(self) -> bool:
        """The embedded demo dataset's labels are synthetic (they grade degradations, not taste)."""
        return self.source == "demo"

    def split_csv(self, split: str) -> Path:
        return self.splits_dir / f"{split}.csv"


def read_data_summary(path: str | Path) -> DataSummary:
    """Read notebook 01's summary.json; a missing file or key is a ValueError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data summary {path} does not exist: run notebooks/01_ava_download_cleanup.ipynb first "
                         "or pass data_summary=PATH to its summary.json")
    try:
        data = json.loads(path.read_text())
        cache = data.get("cache") or {}
        return DataSummary(
            path=path,
            source=str(data.get("source", "unknown")),
            split_scheme=str(data.get("split_scheme", "unknown")),
            images_dir=Path(data["images_dir"]),
            splits_dir=Path(data["splits"]["dir"]),
            cache_dir=Path(cache["dir"]) if cache.get("dir") else None,
            cache_size=int(cache["size"]) if cache.get("size") else None,
        )
    except json.JSONDecodeError as exc:
        raise ValueError(f"data summary {path} is not valid JSON: {exc}") from exc
    except (KeyError, TypeError) as exc:
        raise ValueError(f"data summary {path} lacks {exc} (expected notebook 01's summary.json with images_dir "
                         "and splits.dir)") from exc


def read_labels(csv: str | Path) -> pd.DataFrame:
    """A split CSV of notebook 01 (image_id, c1..c10, ...), ids as strings."""
    table = pd.read_csv(csv, dtype={"image_id": str})
    missing = {"image_id", *[f"c{i}" for i in range(1, 11)]} - set(table.columns)
    if missing:
        raise ValueError(f"{csv} lacks the columns {sorted(missing)}")
    return table


def true_distributions(table: pd.DataFrame) -> np.ndarray:
    """Vote counts c1..c10 -> the human score distributions (N, 10)."""
    counts = table[[f"c{i}" for i in range(1, 11)]].to_numpy(np.float64)
    return counts / counts.sum(axis=1, keepdims=True)


def setting_problems(weights: str, split: str, batch_size: int, bootstrap: int, seed: int,
                     use_cache: bool = False) -> list[str]:
    """Notebook 03's parameter problems that need no prepared data to see, as sentences."""
    problems = []
    if split not in SPLITS:
        problems.append(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    for name, value, low in (("batch_size", batch_size, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            problems.append(f"{name} must be an integer >= {low}, got {value!r}")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or not (bootstrap == 0 or bootstrap >= 100):
        problems.append(f"bootstrap must be 0 (no confidence intervals) or an integer >= 100, got {bootstrap!r}")
    if not isinstance(use_cache, bool):
        problems.append(f"use_cache must be True or False, got {use_cache!r}")
    if str(weights) and not Path(weights).is_file():
        problems.append(f"weights file {weights} does not exist")
    return problems


def check_parameters(weights: str, data_summary: str | Path, split: str, batch_size: int, bootstrap: int,
                     seed: int, use_cache: bool = False) -> tuple[Path, DataSummary]:
    """Validate notebook 03's parameters before any work; return the weights file and the data summary.

    Every problem is one ValueError with a message that says what to pass instead.
    """
    from nima_utils.model.weights import WeightsError, default_weights

    problems = setting_problems(weights, split, batch_size, bootstrap, seed, use_cache)
    if problems:
        raise ValueError(problems[0])
    if str(weights):
        path = Path(weights)
    else:
        try:
            path = default_weights()
        except WeightsError as exc:
            raise ValueError(f"{exc} (Here: the weights parameter.)") from None
    data = read_data_summary(data_summary)
    csv = data.split_csv(split)
    if not csv.is_file():
        raise ValueError(f"split file {csv} (from {data.path}) does not exist")
    if not data.images_dir.is_dir():
        raise ValueError(f"images folder {data.images_dir} (from {data.path}) does not exist")
    n = len(read_labels(csv))
    if n < 3:
        raise ValueError(f"the {split} split has {n} images; evaluation needs at least 3")
    return path, data


@dataclasses.dataclass
class Predictions:
    """Predicted and human score distributions of the images of a split, in the split's order."""

    ids: list[str]
    pred: np.ndarray
    true: np.ndarray
    failed: dict[str, str]
    inputs: str
    """How images reached the model: "images" (decoded as the card prescribes) or "cache"."""
    seconds: float

    def frame(self) -> pd.DataFrame:
        """The predictions CSV: id, predicted and true mean and std, the image's EMD, predicted p1..p10."""
        frame = pd.DataFrame({
            "image_id": self.ids,
            "pred_mean": mean_score(self.pred),
            "pred_std": std_score(self.pred),
            "true_mean": mean_score(self.true),
            "true_std": std_score(self.true),
            "emd": emd(self.pred, self.true),
        })
        return pd.concat([frame, pd.DataFrame(self.pred, columns=[f"p{i}" for i in range(1, 11)])], axis=1)


def cache_mismatch(card: ModelCard, settings: dict[str, Any]) -> str | None:
    """Why the training cache cannot feed this model as its card prescribes, or None if it can.

    The cache holds images squashed to size x size with one interpolation; the card's view is a
    squash to resize_size (or input_size) with its own interpolation, then a centre crop.
    """
    size = card.resize_size or card.input_size
    if card.resize != settings.get("resize") or size != settings.get("size"):
        return (f"the card resizes with {card.resize} to {size} px, the cache holds {settings.get('resize')} "
                f"{settings.get('size')} px images")
    return None


def predict_images(table: pd.DataFrame, images_dir: str | Path, engine: Engine, batch_size: int = 32
                   ) -> Predictions:
    """Score the original images of a split, each decoded and resized as the engine's card prescribes."""
    start = time.monotonic()
    ids = [str(i) for i in table["image_id"]]
    true = true_distributions(table)
    paths = [image_path(images_dir, i) for i in ids]
    keep, probs, failed = [], [], {}
    for k, result in enumerate(score_images(paths, engine, batch_size=batch_size)):
        if result.ok:
            keep.append(k)
            probs.append(result.probs)
        else:
            failed[ids[k]] = result.error or "unknown error"
    return _finish([ids[k] for k in keep], np.asarray(probs).reshape(-1, 10), true[keep], failed, "images", start)


def predict_cache(table: pd.DataFrame, cache_dir: str | Path, split: str, engine: Engine, batch_size: int = 32
                  ) -> Predictions:
    """Score a split from the training cache (centre crop, the card's pixel scaling). Only valid when
    `cache_mismatch` says the cache matches the card; images within JPEG re-encoding noise of the originals."""
    from nima_utils.data.cache import cache_dataset, read_manifest

    reason = cache_mismatch(engine.card, read_manifest(cache_dir)["settings"])
    if reason:
        raise ValueError(f"the cache in {cache_dir} does not fit this model: {reason}")
    start = time.monotonic()
    ds = cache_dataset(cache_dir, split, batch_size=batch_size, crop=engine.card.input_size, with_ids=True,
                       preprocessing=engine.card.preprocessing)
    got: dict[str, np.ndarray] = {}
    for ids, images, _ in ds.as_numpy_iterator():
        for image_id, p in zip(ids, engine.predict(images), strict=True):
            got[image_id.decode()] = p
    ids = [str(i) for i in table["image_id"]]
    keep = [k for k, i in enumerate(ids) if i in got]
    failed = {i: "not in the training cache" for i in ids if i not in got}
    probs = np.array([got[ids[k]] for k in keep]).reshape(-1, 10)
    return _finish([ids[k] for k in keep], probs, true_distributions(table)[keep], failed, "cache", start)


def _finish(ids: list[str], pred: np.ndarray, true: np.ndarray, failed: dict[str, str], inputs: str,
            start: float) -> Predictions:
    if len(ids) < 3:
        raise EvaluationError(f"only {len(ids)} images could be scored ({len(failed)} failed, e.g. "
                              f"{next(iter(failed.items()), None)}); evaluation needs at least 3")
    return Predictions(ids, pred, true, failed, inputs, time.monotonic() - start)


def predict_split(table: pd.DataFrame, data: DataSummary, split: str, engine: Engine, batch_size: int = 32,
                  use_cache: bool = False) -> tuple[Predictions, str]:
    """Predict a split from the original images, or from the training cache when asked and when it
    matches the card. Returns the predictions and a sentence saying which inputs were used and why."""
    if use_cache:
        from nima_utils.data.cache import read_manifest

        if data.cache_dir is None:
            reason = "the data summary names no training cache"
        else:
            try:
                reason = cache_mismatch(engine.card, read_manifest(data.cache_dir)["settings"])
            except FileNotFoundError as exc:
                reason = str(exc)
        if reason is None:
            return (predict_cache(table, data.cache_dir, split, engine, batch_size),
                    f"the training cache {data.cache_dir} (it matches the model card)")
        return (predict_images(table, data.images_dir, engine, batch_size),
                f"the original images, not the cache: {reason}")
    return predict_images(table, data.images_dir, engine, batch_size), "the original images"


def trivial_prediction(train_true: np.ndarray, n: int) -> np.ndarray:
    """The trivial baseline: the training split's mean distribution, for every image."""
    train_true = np.asarray(train_true, dtype=np.float64)
    if train_true.ndim != 2 or len(train_true) == 0:
        raise ValueError("the trivial baseline needs the training split's distributions (N >= 1, 10)")
    return np.tile(train_true.mean(axis=0), (n, 1))


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


def _resample_ranks(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank, as Spearman's) of values[idx] within each row of
    the resamples idx (B, n), by counting instead of sorting every row: O(B n)."""
    unique, inverse = np.unique(values, return_inverse=True)
    b, u = len(idx), len(unique)
    codes = inverse[idx]
    counts = np.bincount((codes + u * np.arange(b)[:, None]).ravel(), minlength=b * u).reshape(b, u)
    below = np.cumsum(counts, axis=1) - counts
    rank_of = below + (counts + 1) / 2.0
    return np.take_along_axis(rank_of, codes, axis=1)


def _statistics(pred: np.ndarray, true: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric on the resamples `idx` (B, n) of the images: (B,) values each."""
    pm, tm, ps, ts = mean_score(pred), mean_score(true), std_score(pred), std_score(true)
    out = {"emd": emd(pred, true)[idx].mean(axis=1)}
    for name, p, t in (("mean", pm, tm), ("std", ps, ts)):
        out[f"lcc_{name}"] = _rowwise_pearson(p[idx], t[idx])
        out[f"srcc_{name}"] = _rowwise_pearson(_resample_ranks(p, idx), _resample_ranks(t, idx))
    for thr in THRESHOLDS:
        out[f"accuracy@{thr}"] = ((pm > thr) == (tm > thr))[idx].mean(axis=1)
    return {name: out[name] for name in METRICS}


def _majority_statistics(true: np.ndarray, above: dict[float, bool], idx: np.ndarray) -> dict[str, np.ndarray]:
    tm = mean_score(true)
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
        return lambda idx: _majority_statistics(true, above, idx)
    return lambda idx: _statistics(np.asarray(pred, dtype=np.float64), true, idx)


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


def _fmt(metric: str, entry: dict[str, float | None] | None) -> str:
    if entry is None or entry["value"] is None:
        return "—"
    percent = metric.startswith("accuracy")
    scale, digits = (100.0, 1) if percent else (1.0, 3)

    def f(x: float) -> str:
        return f"{x * scale:.{digits}f}"

    text = f(entry["value"]) + ("%" if percent else "")
    if entry.get("low") is not None:
        text += f" [{f(entry['low'])}, {f(entry['high'])}]"
    return text


def metrics_table(result: dict[str, Any]) -> pd.DataFrame:
    """Model, trivial baseline and majority class side by side: value [95% CI] per metric, and the
    model's paired advantage over the baseline that metric is judged against."""
    rows = {}
    for metric in METRICS:
        diff = result["paired_differences"].get(metric)
        rows[LABELS[metric]] = {
            "model": _fmt(metric, result["model"][metric]),
            "trivial baseline": _fmt(metric, result["trivial_baseline"][metric]),
            "majority class": _fmt(metric, result["majority_class"].get(metric)),
            "model minus baseline (paired)": (
                _fmt(metric, diff).replace("%", " pt") + f" vs. {diff['against'].replace('_', ' ')}"
                if diff else "—"),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def comparison_table(result: dict[str, Any], test_data: str) -> pd.DataFrame:
    """This model and the trivial baseline beside the published AVA figures (accuracy at 5.0, LCC and
    SRCC of the mean, EMD) and the data each was measured on."""
    columns = ["accuracy@5.0", "lcc_mean", "srcc_mean", "emd"]
    rows = [dict(row) for row in PUBLISHED]
    for name, key in (("this model", "model"), ("trivial baseline", "trivial_baseline")):
        rows.append({"model": name, **{c: result[key][c]["value"] for c in columns}, "test data": test_data})
    table = pd.DataFrame(rows).set_index("model")
    shown = pd.DataFrame(index=table.index)
    shown["accuracy at 5.0"] = [f"{v:.2%}" if pd.notna(v) else "—" for v in table["accuracy@5.0"]]
    for c, label in (("lcc_mean", "LCC (mean)"), ("srcc_mean", "SRCC (mean)"), ("emd", "EMD")):
        shown[label] = [f"{v:.3f}" if pd.notna(v) else "—" for v in table[c]]
    shown["test data"] = table["test data"]
    return shown


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The metrics a summary shows: the model's with intervals, and the baselines' values."""
    return {
        "model": result["model"],
        "trivial_baseline": {k: v["value"] for k, v in result["trivial_baseline"].items()},
        "majority_class": {k: v["value"] for k, v in result["majority_class"].items()},
    }


def _beats(result: dict[str, Any], metric: str, lower_is_better: bool = False) -> str:
    """How the model compares with the baseline of `metric`, by the paired interval of the difference."""
    diff = result["paired_differences"][metric]
    if diff["value"] is None:
        return "cannot be compared with"
    if diff["low"] is None:
        better = diff["value"] < 0 if lower_is_better else diff["value"] > 0
        return ("beats" if better else "does no better than") + " (no bootstrap interval)"
    if (diff["high"] < 0) if lower_is_better else (diff["low"] > 0):
        return "beats"
    if (diff["low"] > 0) if lower_is_better else (diff["high"] < 0):
        return "is worse than"
    return "is not distinguishable (95% interval of the difference includes 0) from"


def findings(result: dict[str, Any], split: str, data: DataSummary, card: ModelCard) -> list[str]:
    """A few plain sentences on what the evaluation found, for the end of a report (Markdown; values
    from the card and the data summary escaped)."""
    from nima_utils.study.display import md

    m, t, maj = result["model"], result["trivial_baseline"], result["majority_class"]
    labels = ("the embedded demo dataset, whose labels are **synthetic** (they grade degradations of a few "
              "photos, not human taste; no figure here says anything about AVA or is comparable with the "
              "paper)" if data.synthetic_labels else f"the {md(data.source)} data ({md(data.split_scheme)} split)")
    lines = [f"{result['n_images']} images of the {md(split)} split of {labels}, scored by a {md(card.backbone)} "
             f"model ({md(card.training_data)})."]
    lines.append(f"EMD {_fmt('emd', m['emd'])} against {t['emd']['value']:.3f} for the trivial baseline: the model "
                 f"{_beats(result, 'emd', lower_is_better=True)} the baseline.")
    lines.append(f"Ranking: SRCC of the mean score {_fmt('srcc_mean', m['srcc_mean'])}, LCC "
                 f"{_fmt('lcc_mean', m['lcc_mean'])}; of the std: SRCC {_fmt('srcc_std', m['srcc_std'])} "
                 "(the trivial baseline ranks nothing: its correlations are undefined).")
    for thr in THRESHOLDS:
        key = f"accuracy@{thr}"
        lines.append(f"Binary accuracy at {thr}: {_fmt(key, m[key])}; always answering the training split's "
                     f"majority class ({result['majority_side'][str(thr)]} {thr}) gives {_fmt(key, maj[key])}: "
                     f"the model {_beats(result, key)} it.")
    return lines
