"""Images/s for scoring the same JPEGs three ways, in one run (this machine is noisy):

(a) the naive loop of the seed apps: load one image, `model.predict` one image;
(b) `nima score`'s engine: threaded decode overlapping batched inference;
(c) the model alone on preloaded, preprocessed batches (the ceiling for (b)).

Goal on a 2-core CPU: (b) >= 3x (a) and (b) >= 0.8x (c).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from PIL import Image

from nima_utils.data.sample_images import sample_photos
from nima_utils.images import preprocess
from nima_utils.model.card import community_card
from nima_utils.model.engine import load_engine
from nima_utils.model.network import build_from_card
from nima_utils.model.weights import WeightsError, default_weights, save_nima
from nima_utils.scoring import prepare, score_images


def make_jpegs(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """n JPEGs of AVA-like size (about 640 px on the long side) cut from scikit-image's photos."""
    rng = np.random.default_rng(seed)
    photos = [Image.open(p).convert("RGB") for p in sample_photos()]
    paths = []
    for i in range(n):
        img = photos[i % len(photos)]
        w, h = (640, int(rng.integers(400, 520))) if i % 2 else (int(rng.integers(400, 520)), 640)
        path = folder / f"img_{i:04d}.jpg"
        img.resize((w, h), Image.Resampling.BICUBIC).save(path, quality=int(rng.integers(80, 96)))
        paths.append(path)
    return paths


def bench_weights(given: Path | None, tmp: Path) -> Path:
    """The weights to time: `given`, else weights/, else a random model of the same architecture
    (speed does not depend on the weights' values)."""
    try:
        return given or default_weights()
    except WeightsError:
        card = community_card()
        print("no weights in weights/: timing a randomly initialised model of the same architecture")
        return save_nima(build_from_card(card), tmp / "random.weights.h5", card)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--weights", type=Path, help="default: weights/ (random community model if none)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = bench_weights(args.weights, tmp)
        engine = load_engine(weights)
        model, card = engine.model, engine.card
        paths = make_jpegs(tmp, args.images)
        size = card.input_size

        def naive() -> None:  # idealo's and most seed apps' loop
            for p in paths:
                img = keras.utils.load_img(p, target_size=(size, size), interpolation=card.resize)
                x = preprocess(keras.utils.img_to_array(img)[None], card.preprocessing)
                model.predict(x, verbose=0)

        def engine_run() -> None:
            for _ in score_images(paths, engine, batch_size=args.batch_size):
                pass

        preloaded = np.stack([prepare(p, engine) for p in paths])

        def model_only() -> None:
            for i in range(0, len(preloaded), args.batch_size):
                engine.predict(preloaded[i : i + args.batch_size])

        model_only()  # warm-up: graph tracing for both batch shapes
        model.predict(preloaded[:1], verbose=0)
        runs = (("(a) naive loop", naive), ("(b) nima score engine", engine_run), ("(c) model alone", model_only))
        rates: dict[str, list[float]] = {name: [] for name, _ in runs}
        for _ in range(args.rounds):  # interleaved rounds, so drift on a noisy machine hits all three
            for name, fn in runs:
                rates[name].append(len(paths) / timed(fn))
        for name, values in rates.items():
            print(f"{name:24s} {max(values):7.1f} images/s (best of {args.rounds}; all: "
                  + ", ".join(f"{v:.1f}" for v in values) + ")")
        a, b, c = (max(v) for v in rates.values())
        print(f"(b)/(a) = {b / a:.2f}x (goal >= 3)   (b)/(c) = {b / c:.2f} (goal >= 0.8)")
        print(f"{len(paths)} JPEGs ~640 px, batch {args.batch_size}, {os.cpu_count()} CPUs, weights {weights.name}")


if __name__ == "__main__":
    main()
