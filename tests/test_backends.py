"""The same training code on another Keras backend: JAX on the CPU, fed by tf.data."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_training import TINY, demo  # noqa: F401  (the module-scoped demo data fixture)

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="jax is not installed (make setup installs it with the dev extra)")


def test_model_code_does_not_need_tensorflow_under_jax():
    code = ("import sys, nima_utils.training, nima_utils.model, nima_utils.losses, nima_utils.metrics; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "KERAS_BACKEND": "jax"}, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_two_phase_training_runs_under_jax(demo, tmp_path):  # noqa: F811
    config = {**TINY, "cache_dir": str(demo["cache_dir"]), "weights_dir": str(tmp_path), "run_name": "jax",
              "head_epochs": 3, "epochs": 2, "patience": 5}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "train_job.py"), json.dumps(config)], cwd=ROOT,
                          env={**os.environ, "KERAS_BACKEND": "jax"}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("SUMMARY "))[8:])
    assert summary["backend"] == "jax" and "jax" in summary["versions"]
    assert summary["epochs_run"] == 2 and summary["head_epochs_run"] == 3
    assert 0 < summary["best_val_emd"] < 1
    # weights written under JAX load (and score) under the default TensorFlow backend
    from nima_utils.weights import load_nima

    model, card = load_nima(Path(summary["weights"]))
    assert card.training["backend"] == "jax" and model.output_shape == (None, 10)
