"""A training run in its own process, for the resume and multi-worker tests:
`python tests/train_job.py CONFIG_JSON` trains and prints the run's summary as one JSON line, with
digests of the final trainable and non-trainable (batch-norm statistics) weights and the spread of
its mean scores over the validation images (a dead backbone scores every image alike). With
FINAL_WEIGHTS set, the final trainable weights are also saved there (.npz), to compare runs within
float noise. With KILL_AT=NAME:N the process SIGKILLs itself inside its Nth atomic write of a file
named NAME (a checkpoint file: the temporary file half written, before its rename)."""

import hashlib
import json
import os
import sys

import numpy as np

from nima_utils.train import checkpoint
from nima_utils.train.loop import TrainConfig, train


def prediction_spread(model, config: TrainConfig) -> float:
    """Standard deviation of the predicted mean score over the validation images."""
    from nima_utils.data.cache import cache_dataset

    means = [np.asarray(model.predict_on_batch(x)) @ np.arange(1, 11)
             for x, _ in cache_dataset(config.cache_dir, "val", batch_size=64, crop=config.input_size)
             .as_numpy_iterator()]
    return float(np.concatenate(means).std())


def kill_inside_writes(spec: str) -> None:
    """SIGKILL this process in the Nth atomic write of a file named NAME, half the temporary file
    written: what a power cut or an OOM kill does to a checkpoint."""
    import signal

    name, nth = spec.rsplit(":", 1)
    seen = {"count": 0}
    replace = checkpoint._replace

    def dying_replace(tmp, path):
        if path.name.startswith(name):
            seen["count"] += 1
            if seen["count"] == int(nth):
                size = tmp.stat().st_size
                os.truncate(tmp, size // 2)
                os.kill(os.getpid(), signal.SIGKILL)
        replace(tmp, path)

    checkpoint._replace = dying_replace


def digest(variables) -> str:
    h = hashlib.sha256()
    for v in variables:
        h.update(np.ascontiguousarray(np.asarray(v), np.float32).tobytes())
    return h.hexdigest()


if __name__ == "__main__":
    if os.environ.get("KILL_AT"):
        kill_inside_writes(os.environ["KILL_AT"])
    config = TrainConfig(**json.loads(sys.argv[1]))
    result = train(config, progress=False)
    summary = {k: v for k, v in result.summary.items() if k != "config"}
    summary["trainable_digest"] = digest(result.model.trainable_variables)
    summary["statistics_digest"] = digest(result.model.non_trainable_variables)
    summary["prediction_spread"] = prediction_spread(result.model, config)
    if os.environ.get("FINAL_WEIGHTS"):
        np.savez(os.environ["FINAL_WEIGHTS"], *[np.asarray(v) for v in result.model.trainable_variables])
    print("SUMMARY " + json.dumps(summary, default=str))
