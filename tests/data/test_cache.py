"""Training cache: round trip, incremental rebuild, tf.data readers."""

import numpy as np
import pandas as pd
import pytest

from nima_utils.data.cache import build_cache, cache_dataset, originals_dataset, read_manifest
from nima_utils.images import load_image, resize
from tests import image_corpus


@pytest.fixture
def dataset(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    photo = image_corpus.photo()
    ids = [f"{i:03d}" for i in range(7)]
    rng = np.random.default_rng(0)
    rows = []
    for k, image_id in enumerate(ids):
        photo.rotate(10 * k).save(images / f"{image_id}.jpg", quality=92)
        rows.append({"image_id": image_id, **{f"c{i}": int(c) for i, c in enumerate(rng.integers(0, 30, 10), 1)}})
    (images / "bad.jpg").write_bytes(b"nope")
    table = pd.DataFrame(rows).set_index("image_id", drop=False)
    return table, images


def test_round_trip_equals_resized_original(dataset, tmp_path):
    table, images = dataset
    manifest = build_cache(table, images, tmp_path / "cache", "train", size=256, shard_size=3, progress=False)
    assert manifest["splits"]["train"]["images"] == 7 and len(manifest["splits"]["train"]["shards"]) == 3
    got = {}
    for ids, x, p in cache_dataset(tmp_path / "cache", "train", batch_size=4, crop=256, with_ids=True):
        for image_id, image, probs in zip(ids.numpy(), x.numpy(), p.numpy(), strict=True):
            got[image_id.decode()] = (image, probs)
    assert sorted(got) == list(table.index)
    for image_id, (image, probs) in got.items():
        expected = resize(load_image(images / f"{image_id}.jpg"), 256, "bilinear").astype(np.float32) / 127.5 - 1
        assert np.abs(image - expected).mean() < 0.02  # JPEG re-encoding at quality 95: about 1 grey level
        counts = table.loc[image_id, [f"c{i}" for i in range(1, 11)]].to_numpy(float)
        np.testing.assert_allclose(probs, counts / counts.sum(), rtol=1e-6)


def test_incremental_build_skips_done_shards(dataset, tmp_path):
    table, images = dataset
    cache = tmp_path / "cache"
    build_cache(table.iloc[:6], images, cache, "train", shard_size=3, progress=False)
    first = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.tfrecord")}
    build_cache(table.iloc[:6], images, cache, "train", shard_size=3, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("*.tfrecord")} == first
    build_cache(table, images, cache, "train", shard_size=3, progress=False)  # one more image: a third shard
    assert read_manifest(cache)["splits"]["train"]["images"] == 7
    with pytest.raises(ValueError, match="another cache folder"):
        build_cache(table, images, cache, "train", size=128, progress=False)


def test_failed_images_are_recorded(dataset, tmp_path):
    table, images = dataset
    bad = pd.concat([table, pd.DataFrame([{"image_id": "bad", **{f"c{i}": 1 for i in range(1, 11)}}],
                                         index=["bad"])])
    manifest = build_cache(bad, images, tmp_path / "cache", "train", progress=False)
    assert manifest["splits"]["train"]["failed"] == {"bad": "not an image (unrecognised content)"}
    assert manifest["splits"]["train"]["images"] == 7


def test_training_batches_and_originals_reader(dataset, tmp_path):
    table, images = dataset
    build_cache(table, images, tmp_path / "cache", "train", progress=False)
    x, p = next(iter(cache_dataset(tmp_path / "cache", "train", batch_size=5, training=True, seed=1)))
    assert x.shape == (5, 224, 224, 3) and p.shape == (5, 10)
    assert float(np.min(x)) >= -1.0 and float(np.max(x)) <= 1.0
    x2, p2 = next(iter(originals_dataset(table, images, batch_size=5)))
    assert x2.shape == (5, 224, 224, 3)
    np.testing.assert_allclose(np.sum(p2, axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="no split"):
        cache_dataset(tmp_path / "cache", "test")


def _epoch(ds, steps: int) -> list[np.ndarray]:
    return [np.asarray(x) for x, _ in ds.take(steps)]


@pytest.mark.parametrize("reader", ["cache", "images"])
def test_training_readers_are_deterministic_per_seed_and_epoch(dataset, tmp_path, reader):
    """Same seed and epoch: the same batches (what resume relies on); another epoch or seed: others."""
    from nima_utils.data.cache import originals_training_dataset, training_dataset

    table, images = dataset
    build_cache(table, images, tmp_path / "cache", "train", size=80, progress=False)

    def batches(seed: int, first_epoch: int = 0, epochs: int = 1) -> list[np.ndarray]:
        if reader == "cache":
            ds, steps = training_dataset(tmp_path / "cache", batch_size=4, crop=64, seed=seed,
                                         first_epoch=first_epoch, epochs=epochs, shuffle_buffer=64)
        else:
            ds, steps = originals_training_dataset(table, images, batch_size=4, size=80, crop=64, seed=seed,
                                                   first_epoch=first_epoch, epochs=epochs)
        assert steps == -(-len(table) // 4)  # the last batch may be short
        return _epoch(ds, steps * (epochs - first_epoch))

    first = batches(seed=1)
    assert first[0].shape == (4, 64, 64, 3)
    for a, b in zip(first, batches(seed=1), strict=True):
        np.testing.assert_array_equal(a, b)
    two_epochs = batches(seed=1, epochs=2)
    second = batches(seed=1, first_epoch=1, epochs=2)  # a resumed run starts at epoch 1
    for a, b in zip(two_epochs[len(first):], second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, batches(seed=2), strict=True))


def test_cache_deletes_only_its_own_shards_and_refuses_odd_names(dataset, tmp_path):
    import json

    table, images = dataset
    cache = tmp_path / "cache"
    build_cache(table, images, cache, "train", shard_size=3, progress=False)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (cache / "notes.txt").write_text("keep me too")
    manifest = json.loads((cache / "cache_manifest.json").read_text())
    manifest["splits"]["train"]["shards"] += [{"file": "../victim.txt", "count": 0, "ids_sha256": "x"},
                                              {"file": "notes.txt", "count": 0, "ids_sha256": "x"}]
    (cache / "cache_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="not a shard file"):
        cache_dataset(cache, "train")
    build_cache(table.iloc[:3], images, cache, "train", shard_size=3, progress=False)  # the others are stale now
    assert victim.read_text() == "keep me" and (cache / "notes.txt").read_text() == "keep me too"
    assert sorted(p.name for p in cache.glob("*.tfrecord")) == ["train-00000-of-00001.tfrecord"]
    with pytest.raises(ValueError, match=r"split name .* is not a plain id"):
        build_cache(table, images, cache, "../x", progress=False)
    odd = pd.concat([table.iloc[:1], table.iloc[:1].set_axis(["../images/000"]).assign(image_id="../images/000")])
    failed = build_cache(odd, images, tmp_path / "c2", "val", progress=False)["splits"]["val"]["failed"]
    assert list(failed) == ["../images/000"] and "not a plain id" in failed["../images/000"]


def test_damaged_or_foreign_shards_are_rebuilt(dataset, tmp_path):
    """A shard cut short (full disk, interrupted copy) or a foreign TFRecord under its name no longer
    matches its recorded size and checksum: the next build rewrites it, and only it."""
    import tensorflow as tf

    from nima_utils.data.cache import damaged_shards

    table, images = dataset
    cache = tmp_path / "cache"
    build_cache(table, images, cache, "train", shard_size=3, progress=False)
    shards = sorted(cache.glob("train-*.tfrecord"))
    good = {p.name: p.read_bytes() for p in shards}
    shards[0].write_bytes(good[shards[0].name][:100])
    with tf.io.TFRecordWriter(str(shards[1])) as writer:
        writer.write(b"not an image record")
    assert damaged_shards(cache) == [str(shards[0]), str(shards[1])]
    untouched = shards[2].stat().st_mtime_ns
    build_cache(table, images, cache, "train", shard_size=3, progress=False)
    assert damaged_shards(cache) == []
    assert {p.name: p.read_bytes() for p in shards} == good and shards[2].stat().st_mtime_ns == untouched
    assert sum(1 for _ in cache_dataset(cache, "train", batch_size=1, crop=256)) == 7
