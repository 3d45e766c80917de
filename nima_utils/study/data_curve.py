"""How the error depends on the number of training photos: the NIMA head trained on frozen backbone
features of k photos, measured on whole photos it never saw (grouped folds over train + val only).

The features are computed once (centre crops of notebook 01's training cache, the demo model's backbone
and pixel scaling), so each fit costs a fraction of a second: the curve shows whether more photos would
help where the demo's 12 do not. The test split is never read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nima_utils.model.metrics import emd, mean_score, trivial_prediction
from nima_utils.study.group_ranking import group_ranking

if TYPE_CHECKING:
    from nima_utils.data.summary import DataSummary

SPLITS = ("train", "val")
"""The splits the curve reads: never the test split."""
CURVE_BATCH = 128
"""The head's batch in the curve's fits: 20 fits in about a minute on 2 CPU cores (batch 32 took twice as long)."""


@dataclasses.dataclass
class Features:
    """Pooled backbone features of images, their vote distributions and the photo (group) of each."""

    image_ids: list[str]
    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray


def frozen_features(summary: DataSummary, backbone: str = "mobilenet", input_size: int = 224,
                    alpha: float = 1.0, batch_size: int = 32) -> Features:
    """The frozen ImageNet backbone's pooled features of the train and val images of notebook 01's
    training cache (centre crops, as the two-phase schedule's head phase), with each image's group."""
    import keras

    from nima_utils.data import cache
    from nima_utils.data.splits import read_split
    from nima_utils.model.backbones import BACKBONES
    from nima_utils.model.network import build_nima, pooled_features

    if summary.cache_dir is None:
        raise ValueError(f"{summary.path} names no training cache: run notebook 01 with its cache on")
    tables = read_split(summary.splits_dir)
    if any("group" not in tables[s] for s in SPLITS):
        raise ValueError(f"the splits in {summary.splits_dir} have no group column: the curve needs photo groups")
    group_of = {str(i): str(g) for s in SPLITS for i, g in zip(tables[s]["image_id"], tables[s]["group"], strict=True)}
    model = build_nima(backbone, "imagenet", 0.0, input_size, alpha)
    base = pooled_features(model)
    ids, feats, probs = [], [], []
    for split in SPLITS:
        ds = cache.cache_dataset(summary.cache_dir, split, batch_size, training=False, crop=input_size,
                                 with_ids=True, preprocessing=BACKBONES[backbone].preprocessing)
        for batch_ids, x, y in ds.as_numpy_iterator():
            ids.extend(i.decode() for i in batch_ids)
            feats.append(np.asarray(keras.ops.convert_to_numpy(base.predict_on_batch(x)), np.float32))
            probs.append(y)
    return Features(ids, np.concatenate(feats), np.concatenate(probs).astype(np.float32),
                    np.array([group_of[i] for i in ids]))


def _fit_head(f: Features, fit: np.ndarray, val: np.ndarray, epochs: int, lr: float, dropout: float,
              batch_size: int, seed: int) -> dict[str, float | None]:
    """Train the head (Adam, the EMD loss) on images `fit` in full batches of up to `batch_size`,
    validating on `val` after every epoch in the same compiled step (Keras' fit costs ~0.3 s an epoch
    here); EMDs at the best and last epoch and the within-photo and pooled SRCC at the best epoch."""
    import keras
    import tensorflow as tf

    from nima_utils.model.losses import emd_loss
    from nima_utils.train.loop import head_model

    keras.utils.set_random_seed(seed)
    head = head_model(f.x.shape[1], dropout, seed, lr)
    optimizer = keras.optimizers.Adam(lr)
    xv, yv = tf.constant(f.x[val]), tf.constant(f.y[val])
    batches = [(tf.constant(f.x[b]), tf.constant(f.y[b])) for b in np.array_split(fit, -(-len(fit) // batch_size))]

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(emd_loss(y, head(x, training=True)))
        weights = head.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))

    @tf.function
    def validate():
        return tf.reduce_mean(emd_loss(yv, head(xv, training=False)))

    best: dict = {}
    last = np.nan
    for epoch in range(epochs):
        for x, y in batches:
            step(x, y)
        last = float(validate())
        if not best or last < best["val"]:
            best.update(val=last, epoch=epoch + 1, weights=head.get_weights())
    head.set_weights(best["weights"])
    pred = np.asarray(keras.ops.convert_to_numpy(head(f.x[val], training=False)), np.float64)  # no retracing
    frame = pd.DataFrame({"image_id": np.asarray(f.image_ids)[val], "pred_mean": mean_score(pred),
                          "true_mean": mean_score(f.y[val])})
    ranking = group_ranking(frame, dict(zip(frame["image_id"], f.groups[val], strict=True))) or {}
    return {"val_emd_best": float(emd(pred, f.y[val]).mean()), "val_emd_last": last,
            "best_epoch": best["epoch"], "srcc_within": ranking.get("within_group_srcc_mean"),
            "srcc_pooled": ranking.get("pooled_srcc_mean")}


def photo_curve(f: Features, photos: Iterable[int] = (3, 6, 9, 12), folds: int = 5, epochs: int = 300,
                lr: float = 1e-3, dropout: float = 0.75, batch_size: int = CURVE_BATCH, seed: int = 0) -> pd.DataFrame:
    """One row per fold and number of training photos k: validation EMD of the head trained on a seeded
    choice of k of the photos outside the fold (best and last epoch), the SRCCs, and the trivial baseline
    (the mean distribution of those k photos' images). Folds hold whole photos: a seeded order of the
    photos cut into `folds` nearly equal parts."""
    names = np.unique(f.groups)
    if len(names) < 2:
        raise ValueError(f"the curve needs at least 2 photos (groups), got {len(names)}")
    folds = min(folds, len(names))
    held_out = np.array_split(np.random.default_rng(seed).permutation(names), folds)
    rows = []
    for fold, fold_photos in enumerate(held_out):
        val = np.flatnonzero(np.isin(f.groups, fold_photos))
        others = np.setdiff1d(names, np.unique(f.groups[val]))
        for k in sorted(set(photos)):
            if k > len(others) or k < 1:
                continue
            rng = np.random.default_rng([seed, fold, k])
            chosen = rng.choice(others, size=k, replace=False)
            fit = np.flatnonzero(np.isin(f.groups, chosen))
            baseline = emd(trivial_prediction(f.y[fit], len(val)), f.y[val]).mean()
            result = _fit_head(f, fit, val, epochs, lr, dropout, batch_size, seed + fold)
            rows.append({"photos": k, "fold": fold, "fit_images": len(fit), "val_images": len(val),
                         "val_photos": ",".join(np.unique(f.groups[val])), **result,
                         "baseline_emd": float(baseline)})
    if not rows:
        raise ValueError(f"no number of photos in {sorted(set(photos))} fits the {len(names)} photos available")
    return pd.DataFrame(rows)


def curve_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The curve per number of training photos: means over folds (and the folds' spread of the best EMD)."""
    table = rows.groupby("photos").agg(
        folds=("fold", "count"), val_emd_best=("val_emd_best", "mean"), val_emd_best_sd=("val_emd_best", "std"),
        val_emd_last=("val_emd_last", "mean"), srcc_within=("srcc_within", "mean"),
        srcc_pooled=("srcc_pooled", "mean"), baseline_emd=("baseline_emd", "mean"))
    return table


def curve_finding(table: pd.DataFrame) -> str:
    """One sentence from the numbers: how validation EMD and the within-photo ranking move with more
    photos, and whether the most photos beat the trivial baseline."""
    first, last = table.iloc[0], table.iloc[-1]
    k0, k1 = table.index[0], table.index[-1]
    trend = "falls" if last["val_emd_best"] < first["val_emd_best"] else "does not fall"
    side = "below" if last["val_emd_best"] < last["baseline_emd"] else "not below"
    return (f"Validation EMD (best epoch) {trend} from {first['val_emd_best']:.3f} with {k0} training photos to "
            f"{last['val_emd_best']:.3f} with {k1}, {side} the trivial baseline's {last['baseline_emd']:.3f}; "
            f"the SRCC of the mean within a photo goes from {first['srcc_within']:.2f} to {last['srcc_within']:.2f}.")


def curve_summary(rows: pd.DataFrame, seconds: float) -> dict:
    """What notebook 02's summary.json keeps of the curve: per number of photos the fold means, the
    finding, and the run time."""
    table = curve_table(rows)
    per_k = {str(k): {name: (None if pd.isna(v) else float(v)) for name, v in row.items()}
             for k, row in table.iterrows()}
    return {"by_photos": per_k, "finding": curve_finding(table), "seconds": round(seconds, 1),
            "folds": int(rows["fold"].nunique())}


def curve_figure(rows: pd.DataFrame):
    """Validation EMD against the number of training photos: each fold a dot, the fold mean a line,
    the trivial baseline dashed: below the dashed line the model has learned something."""
    import matplotlib.pyplot as plt

    table = curve_table(rows)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    jitter = (rows["fold"] - rows["fold"].mean()) * 0.08
    ax.scatter(rows["photos"] + jitter, rows["val_emd_best"], s=14, alpha=0.5, color="C0",
               label="one fold (best epoch)")
    ax.plot(table.index, table["val_emd_best"], "o-", color="C0", label="mean over folds (best epoch)")
    ax.plot(table.index, table["val_emd_last"], "s:", color="C1", label="mean over folds (last epoch)")
    ax.plot(table.index, table["baseline_emd"], "--", color="grey", label="trivial baseline (training mean)")
    ax.set_xticks(list(table.index))
    ax.set_xlabel("number of training photos (each with all its crops and edits)")
    ax.set_ylabel("validation EMD on unseen photos (lower is better)")
    ax.set_title("How the error depends on the number of training photos")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
