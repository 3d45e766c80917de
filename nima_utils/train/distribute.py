"""Devices, mixed precision and data parallelism for whichever Keras backend is active.

All GPUs of a machine are used: `tf.distribute.MirroredStrategy` on TensorFlow,
`keras.distribution.DataParallel` on JAX. Several machines: `MultiWorkerMirroredStrategy` on
TensorFlow, driven by the `TF_CONFIG` environment variable. Backend-specific code lives here only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator

import keras


@dataclasses.dataclass
class Placement:
    """Where training runs: backend, devices, replicas, worker rank, precision."""

    backend: str
    device: str
    gpus: int
    replicas: int
    strategy: str
    worker: int = 0
    workers: int = 1
    precision: str = "float32"

    @property
    def chief(self) -> bool:
        """The worker that writes weights, cards and histories (the others write to a scratch folder)."""
        return self.worker == 0


def _tf_gpus() -> list:
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def _bf16_supported() -> bool:
    """Whether the accelerator runs bfloat16 natively (NVIDIA compute capability 8.0 and newer)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        details = [tf.config.experimental.get_device_details(g) for g in _tf_gpus()]
        return bool(details) and all(d.get("compute_capability", (0, 0)) >= (8, 0) for d in details)
    if backend == "jax":
        import jax

        return jax.devices()[0].platform in ("gpu", "tpu")
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return False


def gpu_count() -> int:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return len(_tf_gpus())
    if backend == "jax":
        import jax

        return sum(d.platform == "gpu" for d in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    return 0


def device_name() -> str:
    """A readable name of the device training runs on (for model cards and reports)."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow" and _tf_gpus():
            import tensorflow as tf

            return tf.config.experimental.get_device_details(_tf_gpus()[0]).get("device_name", "GPU")
        if backend == "jax":
            import jax

            d = jax.devices()[0]
            return f"{d.platform}: {getattr(d, 'device_kind', d)}"
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_name(0)
    except Exception:  # a name is for display only; never fail a run over it
        pass
    return f"CPU ({os.cpu_count()} cores)"


def set_precision(mode: str = "auto") -> str:
    """Set Keras' global dtype policy: "auto" picks mixed_bfloat16 on accelerators that support it,
    float32 elsewhere (CPUs gain nothing); "float32" and "mixed_bfloat16" force it. Returns the policy."""
    if mode not in ("auto", "float32", "mixed_bfloat16"):
        raise ValueError(f"precision must be 'auto', 'float32' or 'mixed_bfloat16', got {mode!r}")
    policy = ("mixed_bfloat16" if gpu_count() and _bf16_supported() else "float32") if mode == "auto" else mode
    keras.mixed_precision.set_dtype_policy(policy)
    return policy


def _tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON: {exc}") from None
    workers = config.get("cluster", {}).get("worker", [])
    if not workers or "task" not in config:
        raise ValueError("TF_CONFIG needs cluster.worker (a list of host:port) and task {type, index}")
    return config


@contextlib.contextmanager
def placement(precision: str = "auto") -> Iterator[Placement]:
    """Build and train the model inside this: it sets the precision policy and spreads the work over
    every GPU (and every worker in TF_CONFIG). Yields where training runs."""
    backend = keras.backend.backend()
    config = _tf_config() if backend == "tensorflow" else {}
    multi_worker = None
    if config:  # must exist before any other TensorFlow operation of the process
        import tensorflow as tf

        multi_worker = tf.distribute.MultiWorkerMirroredStrategy()
    policy = set_precision(precision)
    gpus = gpu_count()
    place = Placement(backend, device_name(), gpus, 1, "single device", precision=policy)
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            if multi_worker is not None:
                strategy = multi_worker
                place.workers = len(config["cluster"]["worker"])
                place.worker = int(config["task"].get("index", 0)) if config["task"].get("type") == "worker" else 0
                place.strategy = f"MultiWorkerMirroredStrategy ({place.workers} workers)"
            elif gpus > 1:
                strategy = tf.distribute.MirroredStrategy()
                place.strategy = f"MirroredStrategy ({gpus} GPUs)"
            else:
                strategy = None
            if strategy is not None:
                place.replicas = strategy.num_replicas_in_sync
                with strategy.scope():
                    yield place
                return
        elif backend == "jax" and gpus > 1:
            keras.distribution.set_distribution(keras.distribution.DataParallel())
            place.replicas, place.strategy = gpus, f"DataParallel ({gpus} GPUs)"
            try:
                yield place
            finally:
                keras.distribution.set_distribution(None)
            return
        yield place
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def prebuild(model: keras.Model, batch: tuple, place: Placement) -> None:
    """Work around Keras 3.15's MultiWorkerMirroredStrategy gaps (tensorflow/tensorflow#72388), for
    this model only: `fit` first averages a distributed (x, y) batch with `strategy.reduce`, which
    fails on the tuple, so build the compiled model from one local batch and skip that step; and
    the step's scalar logs (the loss) are averaged across workers along an axis they do not have,
    so average them as scalars."""
    if place.workers <= 1:
        return
    from keras.src.backend.tensorflow import trainer

    model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    if not getattr(trainer.reduce_per_replica, "nima_scalar_safe", False):
        original = trainer.reduce_per_replica

        def reduce_per_replica(values, strategy, reduction):
            if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
                return keras.tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
            return original(values, strategy, reduction)

        reduce_per_replica.nima_scalar_safe = True
        trainer.reduce_per_replica = reduce_per_replica
