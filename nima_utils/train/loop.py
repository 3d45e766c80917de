"""Training NIMA: EMD loss, two learning rates (base and head), the paper's and idealo's schedules,
early stopping, best checkpoint, history and resume. Keras APIs only, so any backend trains;
tf.data (nima_utils.data.cache) feeds every backend.

A run lives in `weights/<run>/`: `nima.weights.h5` + `nima.card.json` (the best epoch), `history.csv`,
`summary.json` and `checkpoint/` (the last finished epoch, for resume; removed when the run ends).
"""

from __future__ import annotations

import dataclasses
import platform
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import scipy.stats

from nima_utils import __version__, tracking
from nima_utils.model.card import ModelCard
from nima_utils.model.losses import emd_loss
from nima_utils.model.network import BACKBONES, HEAD_LAYERS, build_nima, pooled_features
from nima_utils.model.weights import fingerprint, load_nima
from nima_utils.train.checkpoint import RUN_FILE, RunFolder, RunLock, atomic_json, atomic_path, save_weights_atomic
from nima_utils.train.config import SCHEDULES, TrainConfig
from nima_utils.train.distribute import placement, prebuild

__all__ = ["RUN_FILE", "SCHEDULES", "TrainConfig", "TrainResult", "optimizer_for", "train", "validation_report"]



@dataclasses.dataclass
class TrainResult:
    """What a run produced: the best weights and their card, the history and the run's figures."""

    run_dir: Path
    weights: Path
    card: ModelCard
    history: pd.DataFrame
    summary: dict[str, Any]
    model: keras.Model
    """The model as the last epoch left it (the saved weights are the best epoch's)."""


def optimizer_for(config: TrainConfig, steps_per_epoch: int, phase: str = "finetune") -> keras.optimizers.Optimizer:
    """Two optimizers in one: the base's variables at base_lr, the head's (Dense 'scores') at head_lr."""
    base_lr, head_lr = config.rates()

    def make(rate: float) -> keras.optimizers.Optimizer:
        if config.schedule == "paper":
            decayed = keras.optimizers.schedules.ExponentialDecay(
                rate, decay_steps=config.lr_decay_epochs * steps_per_epoch, decay_rate=config.lr_decay, staircase=True)
            return keras.optimizers.SGD(decayed, momentum=config.momentum)
        return keras.optimizers.Adam(rate)

    head_variables = {f"{name}/.*": make(head_lr) for name in HEAD_LAYERS if name == "scores"}
    return keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(make(base_lr), head_variables))


def learning_rates(optimizer: keras.optimizers.Optimizer) -> dict[str, float]:
    """The current base and head learning rates of `optimizer_for`'s optimizer (its inner optimizers
    are the head's, then the default, the base's)."""
    head, base = optimizer.optimizers
    return {"lr_base": float(keras.ops.convert_to_numpy(base.learning_rate)),
            "lr_head": float(keras.ops.convert_to_numpy(head.learning_rate))}


def _versions() -> dict[str, str]:
    versions = {"nima_lab": __version__, "keras": keras.__version__, "python": platform.python_version()}
    backend = keras.backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    if module:
        versions[module] = __import__(module).__version__
    return versions


class _Data:
    """The train and validation pipelines of a run, from the cache or the original images."""

    def __init__(self, config: TrainConfig, preprocessing: str) -> None:
        from nima_utils.data import cache

        self.config, self.preprocessing, self._cache = config, preprocessing, cache
        if config.data_source == "cache":
            settings = cache.read_manifest(config.cache_dir)["settings"]
            self.resize_size, self.resize = int(settings["size"]), settings["resize"]
            self.train_count = cache.split_files(config.cache_dir, "train")[1]
            self.val_count = cache.split_files(config.cache_dir, "val")[1]
            self.described = f"training cache {config.cache_dir} ({settings['size']} px, {settings['resize']})"
        else:
            from nima_utils.data.splits import read_split

            self.tables = read_split(config.split_dir)
            self.resize_size, self.resize = config.resize_size, "bilinear"
            self.train_count, self.val_count = len(self.tables["train"]), len(self.tables["val"])
            self.described = f"original images {config.images_dir}, split {config.split_dir}"
        if self.resize_size < config.input_size:
            raise ValueError(f"the images are {self.resize_size} px, smaller than input_size {config.input_size}")
        if self.train_count == 0 or self.val_count == 0:
            raise ValueError(f"training needs images in train and val (have {self.train_count} and {self.val_count})")

    def train(self, first_epoch: int, epochs: int):
        c = self.config
        if c.data_source == "cache":
            ds, steps = self._cache.training_dataset(c.cache_dir, "train", c.batch_size, c.input_size, c.seed,
                                                     first_epoch, epochs, self.preprocessing)
        else:
            ds, steps = self._cache.originals_training_dataset(self.tables["train"], c.images_dir, c.batch_size,
                                                               self.resize_size, c.input_size, c.seed, first_epoch,
                                                               epochs, self.preprocessing)
        return self._cache.shard_by_batch(ds), steps

    def evaluation(self, split: str):
        """Centre crops, no augmentation, fixed order: for validation and the head phase's features."""
        c = self.config
        if c.data_source == "cache":
            ds = self._cache.cache_dataset(c.cache_dir, split, c.batch_size, training=False, crop=c.input_size,
                                           preprocessing=self.preprocessing)
        else:
            ds = self._cache.originals_dataset(self.tables[split], c.images_dir, c.batch_size, self.resize_size,
                                               c.input_size, training=False, preprocessing=self.preprocessing)
        return self._cache.shard_by_batch(ds)


def _features(base: keras.Model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """The base's pooled features of every image of `dataset` and their labels, batch by batch."""
    feats, probs = [], []
    for x, y in dataset.as_numpy_iterator():
        feats.append(np.asarray(keras.ops.convert_to_numpy(base.predict_on_batch(x)), np.float32))
        probs.append(y)
    return np.concatenate(feats), np.concatenate(probs)


class RunFolderState(keras.callbacks.Callback):
    """Per epoch: history row, best weights (+ card), early stopping and the resume checkpoint."""

    def __init__(self, run: RunFolder) -> None:
        super().__init__()
        self.run = run

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = self._train_end = time.perf_counter()

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        logs = logs or {}
        train_s = (self._train_end if self._train_end > self._start else now) - self._start
        # images/s over the whole epoch, validation included: backends that dispatch work
        # asynchronously (JAX) make any split of an epoch's time between training and validation moot.
        row = {"phase": "finetune", "epoch": epoch + 1, "train_emd": float(logs.get("loss", np.nan)),
               "val_emd": float(logs.get("val_loss", np.nan)), "seconds": round(now - self._start, 3),
               "train_seconds": round(train_s, 3),
               "images_per_s": round(self.run.data.train_count / (now - self._start), 2),
               **learning_rates(self.model.optimizer)}
        self.run.record(row, self.model)
        if self.run.state["wait"] >= self.run.config.patience:
            self.model.stop_training = True
        self.run.checkpoint(self.model, epoch + 1)


def _build(config: TrainConfig) -> tuple[keras.Model, ModelCard]:
    """The model to train and the card of what it will be."""
    if config.initial_weights in ("imagenet", "none"):
        model = build_nima(config.backbone, None if config.initial_weights == "none" else "imagenet", config.dropout,
                           config.input_size, config.alpha)
        card = ModelCard(backbone=config.backbone, alpha=config.alpha, input_size=config.input_size,
                         preprocessing=BACKBONES[config.backbone].preprocessing, dropout=config.dropout)
        return model, card
    model, start = load_nima(config.initial_weights)
    if start.backbone != config.backbone:
        raise ValueError(f"initial_weights {config.initial_weights} is a {start.backbone} model, "
                         f"not {config.backbone}: set backbone={start.backbone!r}")
    if start.input_size != config.input_size:
        raise ValueError(f"initial_weights {config.initial_weights} takes {start.input_size} px inputs: "
                         f"set input_size={start.input_size}")
    model.get_layer("dropout").rate = config.dropout  # the run's dropout, not the file's (read when each step traces)
    notes = f"fine-tuned from {Path(config.initial_weights).name} ({start.fingerprint})"
    return model, dataclasses.replace(start, metrics={}, training={}, source="", notes=notes, dropout=config.dropout)


def head_model(features: int, dropout: float, seed: int, lr: float) -> keras.Model:
    """NIMA's head alone (dropout, Dense 'scores'), compiled with Adam and the EMD loss: what the
    two-phase schedule trains on the frozen base's features, computed once."""
    inputs = keras.Input((features,))
    outputs = keras.layers.Dense(10, activation="softmax", name="scores", dtype="float32")(
        keras.layers.Dropout(dropout, seed=seed)(inputs))
    head = keras.Model(inputs, outputs)
    head.compile(keras.optimizers.Adam(lr), loss=emd_loss)
    return head


def _head_phase(run: RunFolder, model: keras.Model, progress: bool, on_epoch: Callable[[dict], None] | None) -> None:
    """Two-phase schedule, phase 1: features of the frozen base computed once, then the head alone."""
    config, data = run.config, run.data
    start = time.perf_counter()
    base = pooled_features(model)
    feats = {}
    for split in ("train", "val"):
        feats[split] = _features(base, data.evaluation(split))
    feature_s = time.perf_counter() - start
    head = head_model(feats["train"][0].shape[1], config.dropout, config.seed, config.head_phase_lr)
    head.get_layer("scores").set_weights(model.get_layer("scores").get_weights())
    prebuild(head, (feats["train"][0][:2], feats["train"][1][:2]), run.place)
    (xt, yt), (xv, yv) = feats["train"], feats["val"]
    rows: list[dict] = []
    best: dict[str, Any] = {}
    clock = {"start": time.perf_counter()}

    def end_of_epoch(epoch: int, logs: dict) -> None:
        seconds = time.perf_counter() - clock["start"]
        rows.append({"phase": "head", "epoch": epoch + 1, "train_emd": float(logs["loss"]),
                     "val_emd": float(logs["val_loss"]),
                     "seconds": round(seconds + (feature_s if epoch == 0 else 0), 3),
                     "train_seconds": round(seconds, 3), "images_per_s": round(len(xt) / seconds, 2),
                     "lr_base": 0.0, "lr_head": config.head_phase_lr})
        if not best or logs["val_loss"] < best["val"]:
            best.update(val=logs["val_loss"], row=len(rows) - 1, weights=head.get_layer("scores").get_weights())
        if progress:
            print(f"head {epoch + 1}/{config.head_epochs}: train EMD {logs['loss']:.4f}, "
                  f"val EMD {logs['val_loss']:.4f}")
        if on_epoch:
            on_epoch(rows[-1])
        clock["start"] = time.perf_counter()

    head.fit(xt, yt, batch_size=config.batch_size, epochs=config.head_epochs, validation_data=(xv, yv), verbose=0,
             shuffle=True, callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=end_of_epoch)])
    model.get_layer("scores").set_weights(best["weights"])
    run.state["head_phase"] = {"feature_seconds": round(feature_s, 2), "images": len(xt) + len(xv),
                               "features_per_s": round((len(xt) + len(xv)) / feature_s, 1)}
    # the best head's score on the full model goes into the best head epoch's own row (not the last one's)
    best_row = rows[best["row"]]
    best_row["val_emd"] = float(model.evaluate(data.evaluation("val"), verbose=0))
    run.state["history"].extend(rows)
    run.keep_best(model, best_row["val_emd"], f"head {best_row['epoch']}")  # patience restarts for phase 2
    run.write_history()


def calibrate_batchnorm(model: keras.Model, dataset, batches: int = 8) -> None:
    """Batch-norm statistics of a randomly initialised backbone measured on training images (the
    average over `batches` batches): with the initial mean 0 / variance 1, features die out layer by
    layer and every image gets the same prediction in inference mode (validation, the head phase)."""
    base = pooled_features(model)  # no dropout: its RNG stays put
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    try:
        for i, (x, _) in enumerate(dataset.take(batches).as_numpy_iterator()):
            for layer in layers:
                layer.momentum = i / (i + 1)  # a running average over the batches seen
            base(x, training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum


def _prepare(run: RunFolder, progress: bool, on_epoch: Callable[[dict], None] | None):
    """The model ready for the all-layer phase: built, resumed or (two-phase) head-trained; and its data."""
    config, place = run.config, run.place
    resumed = run.resumable() if place.chief else False
    if place.chief and not resumed:
        run.claim()
    model, run.card = _build(config)
    run.data = data = _Data(config, run.card.preprocessing)
    run.card.resize, run.card.resize_size = data.resize, data.resize_size
    run.card.training_data, run.card.labels = data.described, config.labels
    run.dir.mkdir(parents=True, exist_ok=True)
    train_ds, steps = data.train(run.state["epochs_done"], max(config.epochs, run.state["epochs_done"] + 1))
    if config.initial_weights == "none":  # no pre-trained statistics to keep: measure them, let them train
        if not resumed:
            calibrate_batchnorm(model, data.evaluation("train"))
    elif config.freeze_batchnorm:
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False  # in Keras 3 this also runs the layer in inference mode
    model.compile(optimizer=optimizer_for(config, steps), loss=emd_loss)
    model.optimizer.build(model.trainable_variables)  # so every checkpoint holds the optimizer's state
    if resumed:
        run.restore(model)
        if progress:
            print(f"resuming {run.dir} after epoch {run.state['epochs_done']} of {config.epochs}")
    elif config.schedule == "two-phase" and config.head_epochs:
        _head_phase(run, model, progress, on_epoch)
        run.checkpoint(model, 0)
    return model, resumed, train_ds, steps


def _finetune(run: RunFolder, model: keras.Model, train_ds, steps: int, progress: bool,
              on_epoch: Callable[[dict], None] | None) -> None:
    """All layers, epoch after epoch, from the last finished one."""
    config, data = run.config, run.data
    callbacks = [RunFolderState(run), *(tracking.keras_callbacks(config, run.dir) if run.place.chief else [])]
    if on_epoch:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: on_epoch(run.state["history"][-1])))
    first = run.state["epochs_done"]
    prebuild(model, next(iter(data.evaluation("val").take(1))), run.place)
    if config.epochs > first and run.state["wait"] < config.patience:
        model.fit(train_ds, steps_per_epoch=steps, epochs=config.epochs, initial_epoch=first, shuffle=False,
                  validation_data=data.evaluation("val"), callbacks=callbacks, verbose=2 if progress else 0)
    elif run.state["best_val_emd"] is None:
        raise ValueError("nothing was trained (epochs and head_epochs are 0)")


@tracking.tracked
def train(config: TrainConfig, progress: bool = True,
          on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train a NIMA model as `config` says; resumes an interrupted run of the same name and settings.
    The run folder is locked while it trains: a second run of the same name is refused. A damaged
    cache shard met while reading is named in a one-line `CacheError`."""
    from nima_utils.data.cache_check import damage_named

    config.validate()
    lock = None
    try:
        with warnings.catch_warnings(), placement(config.precision) as place:
            # Keras notes that a finite tf.data input ended after the last epoch's last step: expected here.
            warnings.filterwarnings("ignore", "Your input ran out of data", UserWarning)
            keras.utils.set_random_seed(config.seed)
            run = RunFolder(config, place)
            if place.chief:
                lock = RunLock(run.final_dir, config.run_name)
                lock.acquire()
            with damage_named(config.cache_dir if config.data_source == "cache" else None):
                model, resumed, train_ds, steps = _prepare(run, progress, on_epoch)
                _finetune(run, model, train_ds, steps, progress, on_epoch)
        return _finish(run, model, resumed)
    finally:
        if lock is not None:
            lock.release()


def _summary(run: RunFolder, model: keras.Model, resumed: bool, history: pd.DataFrame) -> dict[str, Any]:
    config, place, data = run.config, run.place, run.data
    finetune = history[history["phase"] == "finetune"]
    return {
        "run": config.run_name, "run_dir": str(run.final_dir), "weights": str(run.final_dir / RUN_FILE),
        "best_val_emd": run.state["best_val_emd"], "best_epoch": run.state["best_epoch"],
        "epochs_run": len(finetune), "head_epochs_run": int((history["phase"] == "head").sum()),
        "stopped_early": bool(run.state["wait"] >= config.patience), "resumed": resumed,
        "wall_seconds": round(run.elapsed(), 2),
        "images_per_s": float(finetune["images_per_s"].median()) if len(finetune) else None,
        "seconds_per_epoch": float(finetune["seconds"].median()) if len(finetune) else None,
        "head_phase": run.state.get("head_phase"), "train_images": data.train_count, "val_images": data.val_count,
        "backend": place.backend, "device": place.device, "strategy": place.strategy, "precision": place.precision,
        "replicas": place.replicas, "versions": _versions(), "config": config.to_dict(),
        "last_fingerprint": fingerprint(model),
    }


def _finish(run: RunFolder, model: keras.Model, resumed: bool) -> TrainResult:
    """The best epoch's weights with the complete card, summary and history into the run folder; the
    checkpoint goes last (a kill before that resumes into this step again)."""
    config, data = run.config, run.data
    history = pd.DataFrame(run.state["history"])
    summary = _summary(run, model, resumed, history)
    card = run.card
    card.training = {k: summary[k] for k in ("best_epoch", "epochs_run", "head_epochs_run", "wall_seconds",
                                             "images_per_s", "backend", "device", "strategy", "precision", "versions")}
    card.training.update(schedule=config.schedule, rates=dict(zip(("base", "head"), config.rates(), strict=True)),
                         head_phase_lr=config.head_phase_lr, seed=config.seed, batch_size=config.batch_size,
                         initial_weights=config.initial_weights, split_dir=config.split_dir or None,
                         train_images=data.train_count, val_images=data.val_count)
    card.metrics = {"val_emd": run.state["best_val_emd"], "best_epoch": run.state["best_epoch"]}
    if run.place.chief:
        best_model, _ = load_nima(run.ckpt.best(run.state))
        atomic_json(run.dir / "summary.json", summary)
        with atomic_path(run.dir / "history.json") as tmp:
            history.to_json(tmp, orient="records", indent=1)
        run.write_history()
        save_weights_atomic(best_model, run.dir / RUN_FILE, card)
        shutil.rmtree(run.ckpt.dir, ignore_errors=True)
    else:
        shutil.rmtree(run.dir, ignore_errors=True)
    return TrainResult(run.final_dir, run.final_dir / RUN_FILE, card, history, summary, model)


def validation_report(weights: str | Path, config: TrainConfig) -> pd.DataFrame:
    """The trained model and the trivial baseline (always the training split's mean distribution) on
    the validation split, side by side: EMD, SRCC/LCC of mean and std, accuracy at 5.0 and 5.1."""
    from nima_utils.model.metrics import evaluate, trivial_prediction

    model, card = load_nima(weights)
    data = _Data(config, card.preprocessing)
    preds, truth = [], []
    for x, y in data.evaluation("val").as_numpy_iterator():
        preds.append(np.asarray(keras.ops.convert_to_numpy(model.predict_on_batch(x)), np.float64))
        truth.append(y)
    pred, true = np.concatenate(preds), np.concatenate(truth).astype(np.float64)
    baseline = trivial_prediction(np.concatenate([y for _, y in data.evaluation("train").as_numpy_iterator()]),
                                  len(true))
    with warnings.catch_warnings():  # a constant prediction has no rank correlation: NaN, as it should
        warnings.simplefilter("ignore", scipy.stats.ConstantInputWarning)
        rows = {"model": evaluate(pred, true), "baseline (training mean distribution)": evaluate(baseline, true)}
    return pd.DataFrame(rows).T
