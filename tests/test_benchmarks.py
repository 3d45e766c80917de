"""The training benchmark's synthetic mode runs (tiny sizes) and imports no TensorFlow."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_train_throughput_synthetic_quick(backend):
    pytest.importorskip(backend, reason=f"{backend} is not installed")
    proc = subprocess.run([sys.executable, "benchmarks/train_throughput.py", "--synthetic", "--quick"], cwd=ROOT,
                          env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert f"[{backend}]" in out and f"TensorFlow imported: {backend == 'tensorflow'}" in out
    for label in ("full training", "frozen base", "inference", "head on cached features"):
        rate = float(re.search(label + r"[^:]*:\s+([\d.]+) images/s", out).group(1))
        assert rate > 0
