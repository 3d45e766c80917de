"""The training cache: images resized once (the paper: 256x256, then random 224 crops) and
re-encoded as JPEG into TFRecord shards that tf.data reads with parallel I/O.

Decoding full-size AVA JPEGs every epoch is what makes AVA epochs take hours; the cache pays it
once. Building is incremental: finished shards are kept, an interrupted build resumes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf
from PIL import Image
from tqdm import tqdm

from nima_utils import __version__
from nima_utils.data.ava import check_plain_id, distributions
from nima_utils.data.cache_check import file_sha256, shard_intact
from nima_utils.data.cleanup import image_path
from nima_utils.images import ImageLoadError, load_image, resize
from nima_utils.model.backbones import IMAGENET_BGR_MEAN, pixel_scaling

MANIFEST = "cache_manifest.json"
AUTOTUNE = tf.data.AUTOTUNE


def _settings(size: int, resize_method: str, quality: int) -> dict:
    return {"size": size, "resize": resize_method, "jpeg_quality": quality, "format": "tfrecord/jpeg"}


def _encode(image_id: str, images_dir: Path, probs: np.ndarray, size: int, method: str, quality: int) -> bytes:
    pixels = resize(load_image(image_path(images_dir, image_id)), size, method)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=quality)
    feature = {
        "image_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_id.encode()])),
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[buf.getvalue()])),
        "probs": tf.train.Feature(float_list=tf.train.FloatList(value=probs.tolist())),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _shard_name(split: str, number: int, total: int) -> str:
    return f"{split}-{number:05d}-of-{total:05d}.tfrecord"


def _is_own_shard(name: object, split: str) -> bool:
    """True only for a shard file name this module writes for `split` (never a path elsewhere)."""
    return isinstance(name, str) and re.fullmatch(re.escape(split) + r"-\d{5}-of-\d{5}\.tfrecord", name) is not None


def _shard_paths(cache_dir: str | Path, split: str, entry: dict) -> list[str]:
    """The shard files of a split's manifest entry; a ValueError if the manifest names anything else."""
    names = [s.get("file") for s in entry["shards"]]
    odd = [n for n in names if not _is_own_shard(n, split)]
    if odd:
        raise ValueError(f"the cache manifest in {cache_dir} names {odd[0]!r} as a {split} shard; not a shard file")
    return [str(Path(cache_dir) / n) for n in names]


def _write_manifest(path: Path, manifest: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(path)


def damaged_shards(cache_dir: str | Path) -> list[str]:
    """The shard files of every split of a cache that do not match the manifest."""
    cache_dir = Path(cache_dir)
    manifest = read_manifest(cache_dir)
    return [str(cache_dir / s["file"]) for split, entry in manifest["splits"].items()
            for s, path in zip(entry["shards"], _shard_paths(cache_dir, split, entry), strict=True)
            if not shard_intact(Path(path), s)]


def _sorted_labels(table: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Image ids in sorted order (so shards do not depend on the table's order) and their distributions."""
    if {f"p{i}" for i in range(1, 11)} <= set(table.columns):
        probs = table[[f"p{i}" for i in range(1, 11)]].to_numpy(np.float64)
    else:
        counts = table[[f"c{i}" for i in range(1, 11)]].to_numpy(np.float64)
        probs = counts / counts.sum(axis=1, keepdims=True)
    ids = [str(i) for i in table["image_id"]]
    order = np.argsort(ids, kind="stable")
    return [ids[i] for i in order], probs[order]


def _write_shard(path: Path, shard_ids: list[str], shard_probs: np.ndarray, encode, pool, bar) -> dict:
    """Encode one shard's images into `path` (through a temporary file, flushed, then renamed) and
    return its manifest entry: count, size and checksum of the file, and the images that failed."""
    tmp = path.with_name(path.name + ".tmp")
    count, failed = 0, {}
    with tf.io.TFRecordWriter(str(tmp)) as writer:
        records = pool.map(encode, zip(shard_ids, shard_probs, strict=True))
        for image_id, record in zip(shard_ids, records, strict=True):
            if isinstance(record, str):
                failed[image_id] = record
            else:
                writer.write(record)
                count += 1
            bar.update(1)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    tmp.replace(path)
    return {"file": path.name, "count": count, "ids_sha256": hashlib.sha256("\n".join(shard_ids).encode()).hexdigest(),
            "bytes": path.stat().st_size, "sha256": file_sha256(path), "failed": failed}


def _reusable(cache_dir: Path, name: str, shard_ids: list[str], previous: dict) -> dict | None:
    """The manifest entry of a shard already built from these images, if its file is intact."""
    done = previous.get(name)
    ids_hash = hashlib.sha256("\n".join(shard_ids).encode()).hexdigest()
    if done and done["ids_sha256"] == ids_hash and shard_intact(cache_dir / name, done):
        if "sha256" not in done:  # a cache from before checksums: add them now that the records check out
            done = {**done, "bytes": (cache_dir / name).stat().st_size, "sha256": file_sha256(cache_dir / name)}
        return done
    return None


def _open_manifest(cache_dir: Path, settings: dict) -> dict:
    path = cache_dir / MANIFEST
    manifest = json.loads(path.read_text()) if path.exists() else {}
    if manifest and manifest.get("settings") != settings:
        raise ValueError(f"{cache_dir} holds a cache built with {manifest.get('settings')}, not {settings}; "
                         "use another cache folder")
    return {"settings": settings, "nima_lab": __version__, "splits": manifest.get("splits", {})}


def build_cache(
    table: pd.DataFrame,
    images_dir: str | Path,
    cache_dir: str | Path,
    split: str,
    size: int = 256,
    resize_method: str = "bilinear",
    quality: int = 95,
    shard_size: int = 1024,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Cache the images of `table` (a split's labels: image_id and p1..p10 or c1..c10) as shards
    `<split>-NNNNN.tfrecord` in `cache_dir`. Shards already built from the same images and settings
    are kept if their file still matches its recorded size and checksum; damaged ones are rebuilt.
    The manifest records settings, shards and any image that failed (an id that is not plain is
    recorded as failed, never used as a file name). Only this split's own shard files are deleted."""
    check_plain_id(split, "split name")
    cache_dir, images_dir = Path(cache_dir), Path(images_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    manifest = _open_manifest(cache_dir, _settings(size, resize_method, quality))
    ids, probs = _sorted_labels(table)
    shards = [(ids[k : k + shard_size], probs[k : k + shard_size]) for k in range(0, len(ids), shard_size)]
    entry = {"shards": [], "images": 0, "failed": {}}
    previous = {s["file"]: s for s in manifest["splits"].get(split, {}).get("shards", [])}

    def encode(args: tuple[str, np.ndarray]) -> bytes | str:
        try:
            return _encode(args[0], images_dir, args[1], size, resize_method, quality)
        except (ImageLoadError, ValueError) as exc:
            return str(exc)

    bar = tqdm(total=len(ids), unit="img", desc=f"cache {split}", disable=not progress, file=sys.stderr)
    with ThreadPoolExecutor(workers or os.cpu_count() or 1, thread_name_prefix="nima-cache") as pool:
        for number, (shard_ids, shard_probs) in enumerate(shards):
            name = _shard_name(split, number, len(shards))
            shard = _reusable(cache_dir, name, shard_ids, previous)
            if shard is not None:
                bar.update(len(shard_ids))
            else:
                shard = _write_shard(cache_dir / name, shard_ids, shard_probs, encode, pool, bar)
            entry["shards"].append(shard)
            entry["images"] += shard["count"]
            entry["failed"].update(shard.get("failed", {}))
            manifest["splits"][split] = entry
            _write_manifest(cache_dir / MANIFEST, manifest)  # after every shard: an interruption loses one at most
    bar.close()
    stale = {s["file"] for s in previous.values()} - {s["file"] for s in entry["shards"]}
    for stale_name in filter(lambda n: _is_own_shard(n, split), stale):
        (cache_dir / stale_name).unlink(missing_ok=True)
    manifest["splits"][split] = entry
    _write_manifest(cache_dir / MANIFEST, manifest)
    return manifest


def read_manifest(cache_dir: str | Path) -> dict:
    path = Path(cache_dir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"no training cache in {cache_dir} (build it with build_cache)")
    return json.loads(path.read_text())


_FEATURES = {
    "image_id": tf.io.FixedLenFeature([], tf.string),
    "image": tf.io.FixedLenFeature([], tf.string),
    "probs": tf.io.FixedLenFeature([10], tf.float32),
}


def scale_pixels(image: tf.Tensor, preprocessing: str = "mobilenet") -> tf.Tensor:
    """uint8 RGB -> the backbone's input scaling, the tf.data twin of `images.preprocess`."""
    scaling = pixel_scaling(preprocessing)
    image = tf.cast(image, tf.float32)
    return image / 127.5 - 1.0 if scaling == "tf" else tf.reverse(image, axis=[-1]) - tf.constant(IMAGENET_BGR_MEAN)


def _preprocess(image: tf.Tensor, crop: int, training: bool, preprocessing: str = "mobilenet",
                seed: tf.Tensor | None = None) -> tf.Tensor:
    """Random crop and horizontal flip when training (stateless, from `seed`, so a seeded run
    sees the same crops every time), centre crop otherwise; then the backbone's scaling."""
    if training:
        if seed is None:
            image = tf.image.random_crop(image, [crop, crop, 3])
            image = tf.image.random_flip_left_right(image)
        else:
            image = tf.image.stateless_random_crop(image, [crop, crop, 3], seed=seed)
            image = tf.image.stateless_random_flip_left_right(image, seed=seed + 1)
    else:
        top = (tf.shape(image)[0] - crop) // 2
        left = (tf.shape(image)[1] - crop) // 2
        image = tf.image.crop_to_bounding_box(image, top, left, crop, crop)
    return scale_pixels(image, preprocessing)


def cache_dataset(
    cache_dir: str | Path,
    split: str,
    batch_size: int = 32,
    training: bool = False,
    crop: int = 224,
    shuffle_buffer: int = 2048,
    seed: int | None = None,
    with_ids: bool = False,
    preprocessing: str = "mobilenet",
) -> tf.data.Dataset:
    """Batches of (images, distributions) [or (ids, images, distributions)] from the cache, read
    with parallel I/O and decoding; shuffled and augmented when `training`."""
    manifest = read_manifest(cache_dir)
    if split not in manifest["splits"]:
        raise ValueError(f"the cache in {cache_dir} has no split {split!r} (has {', '.join(manifest['splits'])})")
    files = _shard_paths(cache_dir, split, manifest["splits"][split])
    ds = tf.data.Dataset.from_tensor_slices(files)
    if training:
        ds = ds.shuffle(len(files), seed=seed)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(8, len(files)), num_parallel_calls=AUTOTUNE,
                       deterministic=not training)
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed)

    def parse(record: tf.Tensor):
        ex = tf.io.parse_single_example(record, _FEATURES)
        image = _preprocess(tf.io.decode_jpeg(ex["image"], channels=3), crop, training, preprocessing)
        return (ex["image_id"], image, ex["probs"]) if with_ids else (image, ex["probs"])

    return ds.map(parse, num_parallel_calls=AUTOTUNE).batch(batch_size).prefetch(AUTOTUNE)


def shard_by_batch(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Several workers (MultiWorkerMirroredStrategy) split a dataset by its elements, not its files:
    a cache split may have fewer shards than there are workers."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def split_files(cache_dir: str | Path, split: str) -> tuple[list[str], int]:
    """The shard files of a cached split and its number of images."""
    manifest = read_manifest(cache_dir)
    if split not in manifest["splits"]:
        raise ValueError(f"the cache in {cache_dir} has no split {split!r} (has {', '.join(manifest['splits'])})")
    entry = manifest["splits"][split]
    return _shard_paths(cache_dir, split, entry), int(entry["images"])


def _epochs(one_epoch, first_epoch: int, epochs: int) -> tf.data.Dataset:
    """Epochs first_epoch..epochs-1 back to back, each built by `one_epoch(epoch)` from the epoch
    number alone: a run resumed at epoch k sees exactly the batches an uninterrupted run saw.
    (tf.data's seeded shuffle takes Python seeds only, so each epoch is its own pipeline.)"""
    ds = one_epoch(first_epoch)
    for epoch in range(first_epoch + 1, epochs):
        ds = ds.concatenate(one_epoch(epoch))
    return ds


def _augment(seed: int, preprocessing: str, crop: int):
    """Stateless random crop + flip keyed by (seed, epoch, position in the epoch)."""

    def apply(epoch: int, index: tf.Tensor, image: tf.Tensor, probs: tf.Tensor):
        key = tf.stack([tf.constant(seed * 100_003 + epoch, tf.int64), index])
        return _preprocess(image, crop, True, preprocessing, seed=key), probs

    return apply


def training_dataset(
    cache_dir: str | Path,
    split: str = "train",
    batch_size: int = 32,
    crop: int = 224,
    seed: int = 0,
    first_epoch: int = 0,
    epochs: int = 1,
    preprocessing: str = "mobilenet",
    shuffle_buffer: int = 4096,
) -> tuple[tf.data.Dataset, int]:
    """Training batches for epochs first_epoch..epochs-1 from the cache, and the steps per epoch.

    Shard order, shuffling, crops and flips are functions of (seed, epoch): the same seed gives the
    same batches, and a resumed run continues with the batches the interrupted one would have seen.
    """
    files, count = split_files(cache_dir, split)
    if count == 0:
        raise ValueError(f"the {split} split of the cache in {cache_dir} holds no images")
    augment = _augment(seed, preprocessing, crop)

    def one_epoch(epoch: int) -> tf.data.Dataset:
        key = seed * 100_003 + epoch  # a different order every epoch, the same for every run
        order = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=key)
        ds = order.interleave(tf.data.TFRecordDataset, cycle_length=min(8, len(files)),
                              num_parallel_calls=AUTOTUNE, deterministic=True)
        ds = ds.shuffle(shuffle_buffer, seed=key + 1)
        ds = ds.map(lambda record: tf.io.parse_single_example(record, _FEATURES), num_parallel_calls=AUTOTUNE)
        ds = ds.enumerate().map(
            lambda i, ex: augment(epoch, i, tf.io.decode_jpeg(ex["image"], channels=3), ex["probs"]),
            num_parallel_calls=AUTOTUNE, deterministic=True)
        return ds.batch(batch_size)

    steps = -(-count // batch_size)
    return _epochs(one_epoch, first_epoch, epochs).prefetch(AUTOTUNE), steps


def _original_labels(table: pd.DataFrame, images_dir: str | Path) -> tuple[list[str], np.ndarray]:
    paths = [str(image_path(images_dir, str(i))) for i in table["image_id"]]  # refuses ids that are not plain
    return paths, distributions(table).astype(np.float32)


def _load_resized(path: tf.Tensor, size: int) -> tf.Tensor:
    """Decode any JPEG/PNG/GIF/BMP and squash to size x size, antialiased like Pillow's bilinear."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return tf.cast(tf.round(tf.image.resize(image, [size, size], method="bilinear", antialias=True)), tf.uint8)


def originals_dataset(
    table: pd.DataFrame,
    images_dir: str | Path,
    batch_size: int = 32,
    size: int = 256,
    crop: int = 224,
    training: bool = False,
    preprocessing: str = "mobilenet",
) -> tf.data.Dataset:
    """The same batches decoded from the original JPEGs every time (what the cache replaces)."""
    paths, probs = _original_labels(table, images_dir)

    def load(path: tf.Tensor, p: tf.Tensor):
        return _preprocess(_load_resized(path, size), crop, training, preprocessing), p

    ds = tf.data.Dataset.from_tensor_slices((paths, probs))
    return ds.map(load, num_parallel_calls=AUTOTUNE).batch(batch_size).prefetch(AUTOTUNE)


def originals_training_dataset(
    table: pd.DataFrame,
    images_dir: str | Path,
    batch_size: int = 32,
    size: int = 256,
    crop: int = 224,
    seed: int = 0,
    first_epoch: int = 0,
    epochs: int = 1,
    preprocessing: str = "mobilenet",
) -> tuple[tf.data.Dataset, int]:
    """`training_dataset`'s twin reading the original images (no cache): same determinism."""
    paths, probs = _original_labels(table, images_dir)
    if not paths:
        raise ValueError("no training images")
    augment = _augment(seed, preprocessing, crop)

    def one_epoch(epoch: int) -> tf.data.Dataset:
        key = seed * 100_003 + epoch
        ds = tf.data.Dataset.from_tensor_slices((paths, probs)).shuffle(len(paths), seed=key)
        ds = ds.enumerate().map(lambda i, item: augment(epoch, i, _load_resized(item[0], size), item[1]),
                                num_parallel_calls=AUTOTUNE, deterministic=True)
        return ds.batch(batch_size)

    return _epochs(one_epoch, first_epoch, epochs).prefetch(AUTOTUNE), -(-len(paths) // batch_size)
