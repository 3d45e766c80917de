"""Checks of a training cache's shards against its manifest (size, checksum, record count), and the
one-line error that names a damaged shard instead of TensorFlow's traceback."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import tensorflow as tf


class CacheError(ValueError):
    """A training cache that cannot be read as built (a damaged or foreign shard): one line naming it."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _count_records(path: Path) -> int | None:
    """The records of a TFRecord file, or None if it is cut short or not a TFRecord file."""
    try:
        return sum(1 for _ in tf.data.TFRecordDataset(str(path)))
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError):
        return None


def shard_intact(path: Path, shard: dict) -> bool:
    """Whether a shard file is the one its manifest entry describes: its size and checksum when the
    entry has them (written since they were added), else its record count."""
    if not path.is_file():
        return False
    if "sha256" in shard:
        return path.stat().st_size == shard.get("bytes") and file_sha256(path) == shard["sha256"]
    return _count_records(path) == shard["count"]


@contextlib.contextmanager
def damage_named(cache_dir: str | Path | None) -> Iterator[None]:
    """Turn TensorFlow's error on a damaged cache shard (a traceback mid-epoch) into a one-line
    `CacheError` naming the shard and the fix; any other error passes unchanged."""
    try:
        yield
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError):
        from nima_utils.data.cache import damaged_shards

        bad = damaged_shards(cache_dir) if cache_dir else []
        if not bad:
            raise
        raise CacheError(f"damaged cache shard {bad[0]}" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else "")
                         + ": it does not match the cache manifest; build the cache again (notebook 01 or "
                         "build_cache rebuilds only the damaged shards)") from None
