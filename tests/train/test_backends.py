"""The same training code on another Keras backend: JAX on the CPU, fed by tf.data."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.train.conftest import TINY

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="jax is not installed (make setup installs it with the dev extra)")


def test_model_code_does_not_need_tensorflow_under_jax():
    code = ("import sys, nima_utils.train.loop, nima_utils.model.network, nima_utils.model.losses, "
            "nima_utils.model.metrics; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "KERAS_BACKEND": "jax"}, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.slow
def test_two_phase_training_runs_under_jax(demo, tmp_path):
    config = {**TINY, "cache_dir": str(demo["cache_dir"]), "weights_dir": str(tmp_path), "run_name": "jax",
              "head_epochs": 3, "epochs": 2, "patience": 5}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "train_job.py"), json.dumps(config)], cwd=ROOT,
                          env={**os.environ, "KERAS_BACKEND": "jax"}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("SUMMARY "))[8:])
    assert summary["backend"] == "jax" and "jax" in summary["versions"]
    assert summary["epochs_run"] == 2 and summary["head_epochs_run"] == 3
    assert 0 < summary["best_val_emd"] < 1
    assert summary["prediction_spread"] > 1e-3  # a live backbone (random start, calibrated batch norm)
    # weights written under JAX load (and score) under the default TensorFlow backend
    from nima_utils.model.weights import load_nima

    model, card = load_nima(Path(summary["weights"]))
    assert card.training["backend"] == "jax" and model.output_shape == (None, 10)


FEW_STEPS = """
import json, sys
import keras, numpy as np
from nima_utils.model.losses import emd_loss
from nima_utils.model.network import build_nima

model = build_nima(weights=None, alpha=0.25, input_size=64)
model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=emd_loss)
rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (12, 64, 64, 3)).astype("float32")
y = rng.dirichlet(np.ones(10), 12).astype("float32")
before = model.get_weights()
history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
moved = [float(np.abs(a - b).max()) for a, b in zip(model.get_weights(), before)]
print(json.dumps({"backend": keras.backend.backend(), "loss": history.history["loss"], "moved": max(moved),
                  "tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.mark.slow
def test_few_steps_on_numpy_arrays_under_jax_without_tensorflow():
    """The model, EMD loss and optimizer train under JAX with no TensorFlow loaded at all (a GPU
    machine with JAX only): three SGD steps on arrays give a finite loss and move the weights."""
    proc = subprocess.run([sys.executable, "-c", FEW_STEPS], env={**os.environ, "KERAS_BACKEND": "jax"}, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax" and result["tensorflow"] is False
    assert len(result["loss"]) == 1 and 0 < result["loss"][0] < 2
    assert result["moved"] > 1e-4
