"""Training speed, in one run: the model alone on in-memory batches (full fine-tune, frozen base,
inference) and, with TensorFlow installed, the input pipeline (training cache and original JPEGs) and
end-to-end training from the cache, with the ratio end-to-end / model alone and the projected time
of an AVA epoch (229,981 images).

`--synthetic` feeds in-memory arrays only and imports no TensorFlow, so it runs where only JAX or
PyTorch is installed (a GPU machine): `KERAS_BACKEND=jax python benchmarks/train_throughput.py
--synthetic`. `--backend-all` runs the synthetic benchmark once per installed backend.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

warnings.filterwarnings("ignore", "Your input ran out of data", UserWarning)  # each timed fit is one finite epoch

AVA_TRAIN_IMAGES = 229_981
"""The paper split's training images (the PyTorch port's sizes)."""


def build(args, frozen: bool = False):
    import keras

    from nima_utils.model.losses import emd_loss
    from nima_utils.model.network import build_nima
    from nima_utils.train.config import TrainConfig
    from nima_utils.train.loop import optimizer_for

    model = build_nima(weights=None, alpha=args.alpha, input_size=args.input_size)
    if frozen:
        for layer in model.layers:
            if layer.name not in ("dropout", "scores"):
                layer.trainable = False
    model.compile(optimizer_for(TrainConfig(schedule="paper", base_lr=1e-4, head_lr=1e-3), 100), loss=emd_loss)
    del keras
    return model


def synthetic_batches(args, count: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
    """A few preprocessed batches of random pixels and vote distributions, reused round-robin."""
    rng = np.random.default_rng(0)
    size = args.input_size
    return [(rng.integers(0, 256, (args.batch_size, size, size, 3)).astype(np.float32) / 127.5 - 1.0,
             rng.dirichlet(np.ones(10), args.batch_size).astype(np.float32)) for _ in range(count)]


def train_rate(model, batches, steps: int, warmup: int) -> float:
    for i in range(warmup):
        model.train_on_batch(*batches[i % len(batches)])
    start = time.perf_counter()
    for i in range(steps):
        loss = model.train_on_batch(*batches[i % len(batches)])
    float(np.asarray(loss))  # wait for asynchronous backends
    return steps * len(batches[0][0]) / (time.perf_counter() - start)


def predict_rate(model, batches, steps: int, warmup: int) -> float:
    for i in range(warmup):
        model.predict_on_batch(batches[i % len(batches)][0])
    start = time.perf_counter()
    for i in range(steps):
        out = model.predict_on_batch(batches[i % len(batches)][0])
    np.asarray(out)
    return steps * len(batches[0][0]) / (time.perf_counter() - start)


def fit_rate(model, dataset, steps: int, batch_size: int) -> float:
    """Images/s of one `model.fit` epoch of `steps` batches of `dataset` (a fresh iterator, as each epoch of
    training has; fed to the model directly, with no Python generator copying the batches)."""
    start = time.perf_counter()
    model.fit(dataset.take(steps), epochs=1, verbose=0, shuffle=False)
    return steps * batch_size / (time.perf_counter() - start)


def head_on_features(model, batches, count: int = 16_384):
    """The two-phase schedule's head phase as training runs it: the head alone (`training.head_model`)
    on the frozen base's features, here `count` feature vectors made from the base's real output."""
    import keras

    from nima_utils.train.loop import head_model

    base = keras.Model(model.inputs, model.get_layer("dropout").input)
    made = np.asarray(base.predict_on_batch(batches[0][0]), dtype=np.float32)
    reps = -(-count // len(made))
    x = np.tile(made, (reps, 1))[:count] + np.random.default_rng(1).normal(0, 0.01, (count, made.shape[1])).astype(
        np.float32)
    y = np.tile(batches[0][1], (reps, 1))[:count]
    head = head_model(made.shape[1], 0.75, 0, 1e-3)
    head.fit(x[:1024], y[:1024], batch_size=len(batches[0][0]), epochs=1, verbose=0)  # warm-up and tracing
    return head, (x, y)


def head_epoch_rate(head, features, batch_size: int) -> float:
    """Images/s of one epoch of the head on cached features (the head phase of the two-phase schedule)."""
    x, y = features
    start = time.perf_counter()
    head.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=True)
    return len(x) / (time.perf_counter() - start)


def synthetic(args) -> dict:
    import keras

    from nima_utils.train.distribute import device_name, set_precision

    policy = set_precision("auto" if args.mixed_precision else "float32")
    batches = synthetic_batches(args)
    full, frozen = build(args), build(args, frozen=True)
    results = {"backend": keras.backend.backend(), "device": device_name(), "precision": policy,
               "batch_size": args.batch_size, "input_size": args.input_size, "alpha": args.alpha,
               "tensorflow_imported": "tensorflow" in sys.modules}
    head, features = head_on_features(full, batches)
    rates: dict[str, list[float]] = {"full": [], "frozen": [], "inference": [], "head_on_features": []}
    for _ in range(args.rounds):  # interleaved rounds: noise hits every figure alike
        rates["full"].append(train_rate(full, batches, args.steps, args.warmup))
        rates["frozen"].append(train_rate(frozen, batches, args.steps * 3, args.warmup))
        rates["inference"].append(predict_rate(full, batches, args.steps * 3, args.warmup))
        rates["head_on_features"].append(head_epoch_rate(head, features, args.batch_size))
    results.update({f"{k}_images_per_s": max(v) for k, v in rates.items()})
    results["rounds"] = rates
    return results


def print_synthetic(r: dict) -> None:
    print(f"[{r['backend']}] {r['device']}, {r['precision']}, batch {r['batch_size']}, MobileNet alpha {r['alpha']} "
          f"at {r['input_size']} px, in-memory batches (TensorFlow imported: {r['tensorflow_imported']})")
    print(f"  full training (all layers):  {r['full_images_per_s']:9.1f} images/s")
    print(f"  frozen base (head only):     {r['frozen_images_per_s']:9.1f} images/s")
    print(f"  inference:                   {r['inference_images_per_s']:9.1f} images/s")
    print(f"  head on cached features:     {r['head_on_features_images_per_s']:9.1f} images/s")
    print(f"  projected AVA epoch, full training on the model alone: "
          f"{AVA_TRAIN_IMAGES / r['full_images_per_s']:,.0f} s")
    print(f"  projected AVA head phase: features once {AVA_TRAIN_IMAGES / r['inference_images_per_s']:,.0f} s, "
          f"then {AVA_TRAIN_IMAGES / r['head_on_features_images_per_s']:,.1f} s per head epoch")


def with_tensorflow(args) -> None:
    """Input pipelines and end-to-end training from the cache, against the model alone."""
    import pandas as pd

    from benchmarks.data_throughput import epoch_rate
    from benchmarks.score_throughput import make_jpegs
    from nima_utils.data.cache import build_cache, originals_training_dataset, training_dataset

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images = tmp / "images"
        images.mkdir()
        ids = []
        for k, p in enumerate(make_jpegs(images, args.images)):
            p.rename(images / f"{k}.jpg")
            ids.append(str(k))
        rng = np.random.default_rng(0)
        table = pd.DataFrame({"image_id": ids, **{f"c{i}": rng.integers(1, 40, len(ids)) for i in range(1, 11)}},
                             index=ids)
        cache_size = round(args.input_size * 256 / 224)
        build_cache(table, images, tmp / "cache", "train", size=cache_size, progress=False)
        crop = args.input_size
        steps_per_epoch = -(-len(ids) // args.batch_size)

        def cache_pipeline() -> float:
            return epoch_rate(training_dataset(tmp / "cache", "train", args.batch_size, crop, 0, 0, 1)[0])

        def raw_pipeline() -> float:
            return epoch_rate(originals_training_dataset(table, images, args.batch_size, cache_size, crop, 0, 0, 1)[0])

        rates: dict[str, list[float]] = {"cache": [], "raw": []}
        cache_pipeline(), raw_pipeline()  # warm-up: tracing, file cache
        for _ in range(args.rounds):
            rates["cache"].append(cache_pipeline())
            rates["raw"].append(raw_pipeline())
        # model.fit both ways, alternating, one epoch each per round after a short warm-up epoch that
        # traces the step function: on in-memory batches (the model's own speed) and on a new epoch of the
        # training cache's pipeline (end to end, the pipeline's start included as in every real epoch).
        import tensorflow as tf

        x, y = synthetic_batches(args, count=1)[0]
        steps = min(args.steps, steps_per_epoch - 1)  # full batches only: one traced step function

        memory = tf.data.Dataset.from_tensors((x, y)).repeat()  # made once: the batch is copied into TF once

        def in_memory(epoch: int):
            return memory

        def from_cache(epoch: int):
            return training_dataset(tmp / "cache", "train", args.batch_size, crop, 0, epoch, epoch + 1)[0]

        fits = {"model": (build(args), in_memory), "end_to_end": (build(args), from_cache)}
        for model, data in fits.values():
            fit_rate(model, data(0), args.warmup, args.batch_size)
        for epoch in range(1, args.rounds + 1):
            for name, (model, data) in fits.items():
                rates.setdefault(name, []).append(fit_rate(model, data(epoch), steps, args.batch_size))
    best = {k: max(v) for k, v in rates.items()}
    print(f"\n[tensorflow] {len(ids)} JPEGs ~640 px, cache {cache_size} px, crops {crop} px, batch {args.batch_size}, "
          f"best of {args.rounds} interleaved rounds")
    print(f"  input pipeline, training cache (crop + flip):       {best['cache']:9.1f} images/s")
    print(f"  input pipeline, original JPEGs (decode + resize):   {best['raw']:9.1f} images/s")
    print(f"  model alone, in-memory batches:                     {best['model']:9.1f} images/s")
    print(f"  end to end, model.fit on the training cache:        {best['end_to_end']:9.1f} images/s")
    print(f"  end to end / model alone = {best['end_to_end'] / best['model']:.2f}x (goal >= 0.8x)")
    print(f"  projected AVA epoch ({AVA_TRAIN_IMAGES:,} images) end to end: "
          f"{AVA_TRAIN_IMAGES / best['end_to_end']:,.0f} s on this machine")
    print("  rounds: " + json.dumps({k: [round(x, 1) for x in v] for k, v in rates.items()}))


def backend_all(argv: list[str]) -> None:
    """The synthetic benchmark in a fresh process per installed backend (the backend is fixed at import)."""
    for backend, module in (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch")):
        if importlib.util.find_spec(module) is None:
            print(f"[{backend}] not installed: skipped")
            continue
        args = [a for a in argv if a != "--backend-all"]
        subprocess.run([sys.executable, __file__, "--synthetic", *args], env={**os.environ, "KERAS_BACKEND": backend},
                       check=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", action="store_true", help="in-memory arrays only; imports no TensorFlow")
    parser.add_argument("--backend-all", action="store_true", help="--synthetic once per installed backend")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8, help="timed steps of full training per round")
    parser.add_argument("--warmup", type=int, default=4, help="untimed steps first (tracing, caches)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is reported")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--images", type=int, default=256, help="JPEGs for the pipeline measurements")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="mixed bfloat16 on GPUs that support it (float32 on CPUs)")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (alpha 0.25, 96 px, few steps)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.quick:
        args.alpha, args.input_size, args.steps, args.warmup, args.rounds, args.images = 0.25, 96, 2, 1, 1, 64
        args.batch_size = min(args.batch_size, 16)
    if args.backend_all:
        backend_all(argv)
        return
    result = synthetic(args)
    print_synthetic(result)
    if not args.synthetic:
        with_tensorflow(args)


if __name__ == "__main__":
    main()
