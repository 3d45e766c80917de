"""Evaluating a NIMA model on a labelled split, part one: notebook 03's parameters, and the split's
predictions fed as the model card prescribes (from the original images or the training cache).
`evaluation_metrics` measures them, `evaluation_report` puts them into tables and words."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from nima_utils.data.ava import distributions
from nima_utils.data.cleanup import image_path
from nima_utils.data.splits import SPLITS
from nima_utils.data.summary import DataSummary, read_data_summary
from nima_utils.model.card import ModelCard
from nima_utils.model.engine import Engine
from nima_utils.model.metrics import emd, mean_score, std_score
from nima_utils.params import Parameters
from nima_utils.scoring import score_images

if TYPE_CHECKING:
    from nima_utils.model.weights import WeightsChoice

MIN_IMAGES = 3
"""The fewest images an evaluation is run on."""


class EvaluationError(RuntimeError):
    """The split cannot be evaluated (no images could be scored, labels missing...)."""


def read_labels(csv: str | Path) -> pd.DataFrame:
    """A split CSV of notebook 01 (image_id, c1..c10, ...), ids as strings."""
    table = pd.read_csv(csv, dtype={"image_id": str})
    missing = {"image_id", *[f"c{i}" for i in range(1, 11)]} - set(table.columns)
    if missing:
        raise ValueError(f"{csv} lacks the columns {sorted(missing)}")
    return table


@dataclasses.dataclass
class EvaluateParameters(Parameters):
    """Notebook 03's parameters. `data_summary` is notebook 01's summary.json (a pipeline sets it)."""

    title: ClassVar[str] = "notebook 03 (evaluation) parameters"

    weights: str = ""
    data_summary: str | Path = ""
    split: str = "test"
    batch_size: int = 32
    bootstrap: int = 1000
    seed: int = 0
    use_cache: bool = False

    def setting_problems(self) -> list[str]:
        """The problems that need no prepared data to see."""
        problems = []
        if self.split not in SPLITS:
            problems.append(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        for name, value, low in (("batch_size", self.batch_size, 1), ("seed", self.seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                problems.append(f"{name} must be an integer >= {low}, got {value!r}")
        bootstrap = self.bootstrap
        if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or not (bootstrap == 0 or bootstrap >= 100):
            problems.append(f"bootstrap must be 0 (no confidence intervals) or an integer >= 100, got {bootstrap!r}")
        if not isinstance(self.use_cache, bool):
            problems.append(f"use_cache must be True or False, got {self.use_cache!r}")
        if str(self.weights) and not Path(self.weights).is_file():
            problems.append(f"weights file {self.weights} does not exist")
        return problems

    def data_problems(self) -> list[str]:
        """The default weights when none are given, the data summary, the split and its images."""
        from nima_utils.model.weights import WeightsError, default_weights

        problems = []
        if not str(self.weights):
            try:
                default_weights()
            except WeightsError as exc:
                problems.append(f"{exc} (Here: the weights parameter.)")
        try:
            data = read_data_summary(self.data_summary)
        except ValueError as exc:
            return [*problems, str(exc)]
        if not data.images_dir.is_dir():
            problems.append(f"images folder {data.images_dir} (from {data.path}) does not exist")
        if self.split in SPLITS:
            csv = data.split_csv(self.split)
            if not csv.is_file():
                problems.append(f"split file {csv} (from {data.path}) does not exist")
            else:
                n = len(read_labels(csv))
                if n < MIN_IMAGES:
                    problems.append(f"the {self.split} split has {n} images; evaluation needs at least {MIN_IMAGES}")
        return problems

    def weights_path(self) -> Path:
        """The weights file to evaluate: the one given, else the newest in weights/."""
        from nima_utils.model.weights import default_weights

        return Path(self.weights) if str(self.weights) else default_weights()


def check_parameters(weights: str, data_summary: str | Path, split: str, batch_size: int, bootstrap: int,
                     seed: int, use_cache: bool = False) -> tuple[WeightsChoice, DataSummary]:
    """Validate notebook 03's parameters before any work; return the weights chosen (the file given,
    else `weights.choose_weights`'s default, with why) and the data summary.

    Every problem is named in one `ParameterError` (a ValueError) that says what to pass instead.
    """
    from nima_utils.model.weights import choose_weights

    params = EvaluateParameters(weights, data_summary, split, batch_size, bootstrap, seed, use_cache).check()
    chosen = choose_weights(str(params.weights) or None, given_as="given as the weights parameter")
    return chosen, read_data_summary(data_summary)


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
    true = distributions(table)
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
    return _finish([ids[k] for k in keep], probs, distributions(table)[keep], failed, "cache", start)


def _finish(ids: list[str], pred: np.ndarray, true: np.ndarray, failed: dict[str, str], inputs: str,
            start: float) -> Predictions:
    if len(ids) < MIN_IMAGES:
        raise EvaluationError(f"only {len(ids)} images could be scored ({len(failed)} failed, e.g. "
                              f"{next(iter(failed.items()), None)}); evaluation needs at least {MIN_IMAGES}")
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


