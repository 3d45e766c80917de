"""AVA data speed, in one run: cleanup (images verified per second) and training input
(images per second that tf.data delivers from the training cache vs. from the original JPEGs,
on the same images, same batches). JPEGs are AVA-like: about 640 px on the long side."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from benchmarks.score_throughput import make_jpegs
from nima_utils.data.cache import build_cache, cache_dataset, originals_dataset
from nima_utils.data.cleanup import clean_labels


def epoch_rate(dataset) -> float:
    start, n = time.perf_counter(), 0
    for x, _ in dataset:
        n += int(x.shape[0])
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images = tmp / "images"
        images.mkdir()
        paths = make_jpegs(images, args.images)
        ids = []
        for k, p in enumerate(paths):
            p.rename(images / f"{k}.jpg")
            ids.append(str(k))
        rng = np.random.default_rng(0)
        table = pd.DataFrame({"image_id": ids, **{f"c{i}": rng.integers(1, 40, len(ids)) for i in range(1, 11)}},
                             index=ids)
        print(f"{len(ids)} JPEGs ~640 px, {os.cpu_count()} CPUs")
        for workers in (1, 2):
            rates = [clean_labels(table, images, workers=workers, progress=False).images_per_s
                     for _ in range(args.rounds)]
            print(f"cleanup, {workers} worker thread(s):  {max(rates):7.1f} images/s verified (best of {args.rounds})")
        start = time.perf_counter()
        build_cache(table, images, tmp / "cache", "train", progress=False)
        print(f"cache build (one-time): {len(ids) / (time.perf_counter() - start):7.1f} images/s")
        cached = cache_dataset(tmp / "cache", "train", batch_size=32, training=True, seed=0)
        original = originals_dataset(table, images, batch_size=32, training=True)
        epoch_rate(cached), epoch_rate(original)  # warm-up: graph building, file cache
        rates = {"cache": [], "originals": []}
        for _ in range(args.rounds):
            rates["cache"].append(epoch_rate(cached))
            rates["originals"].append(epoch_rate(original))
        c, o = max(rates["cache"]), max(rates["originals"])
        print(f"tf.data from the training cache:   {c:7.1f} images/s (best of {args.rounds})")
        print(f"tf.data from the original JPEGs:   {o:7.1f} images/s (best of {args.rounds})")
        print(f"cache / originals = {c / o:.2f}x")


if __name__ == "__main__":
    main()
