"""Smoke runs of the benchmarks: the training benchmark's synthetic mode (tiny sizes, no TensorFlow import
under JAX) and the AVA scale benchmark (tiny sizes)."""

from __future__ import annotations

import json
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


def test_ava_scale_quick_times_every_stage(tmp_path):
    """The scale benchmark's smoke run: a small AVA-shaped dataset, every stage timed, the growth table printed."""
    pytest.importorskip("tensorflow", reason="tensorflow is not installed")
    out = tmp_path / "scale.json"
    proc = subprocess.run([sys.executable, "benchmarks/ava_scale.py", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    saved = json.loads(out.read_text())
    stages = [r["stage"] for r in saved["rows"]]
    assert stages == ["labels", "cleanup", "splits", "cache build", "cache read", "predict (03)", "bootstrap (03)",
                      "score folder"]
    assert all(r["seconds"] >= 0 and r["peak_mib"] > 0 for r in saved["rows"])
    assert saved["bootstrap"][0]["items"] == 500
    assert "at 255,530 here" in proc.stdout and "score folder" in proc.stdout
