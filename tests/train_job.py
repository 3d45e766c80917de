"""A training run in its own process, for the resume and multi-worker tests:
`python tests/train_job.py CONFIG_JSON` trains and prints the run's summary as one JSON line, with
digests of the final trainable and non-trainable (batch-norm statistics) weights. With FINAL_WEIGHTS
set, the final trainable weights are also saved there (.npz), to compare runs within float noise."""

import hashlib
import json
import os
import sys

import numpy as np

from nima_utils.train.loop import TrainConfig, train


def digest(variables) -> str:
    h = hashlib.sha256()
    for v in variables:
        h.update(np.ascontiguousarray(np.asarray(v), np.float32).tobytes())
    return h.hexdigest()


if __name__ == "__main__":
    result = train(TrainConfig(**json.loads(sys.argv[1])), progress=False)
    summary = {k: v for k, v in result.summary.items() if k != "config"}
    summary["trainable_digest"] = digest(result.model.trainable_variables)
    summary["statistics_digest"] = digest(result.model.non_trainable_variables)
    if os.environ.get("FINAL_WEIGHTS"):
        np.savez(os.environ["FINAL_WEIGHTS"], *[np.asarray(v) for v in result.model.trainable_variables])
    print("SUMMARY " + json.dumps(summary, default=str))
