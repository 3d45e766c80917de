"""`nima` answers mistakes before TensorFlow loads, and its stderr holds only its own lines."""

import json
import os
import subprocess
import sys

import pytest

from nima_utils.cli import main

PROBE = """
import contextlib, io, json, sys, time
from nima_utils.cli import main
answers = []
for argv in json.loads(sys.argv[1]):
    err, start = io.StringIO(), time.monotonic()
    with contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    answers.append({"argv": argv, "code": code, "err": err.getvalue(), "seconds": time.monotonic() - start,
                    "heavy": sorted(m for m in ("tensorflow", "keras", "jax", "torch") if m in sys.modules)})
print(json.dumps(answers))
"""


def _env(home):
    return {**os.environ, "NIMA_LAB_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "0"}


def test_usage_and_parameter_errors_come_before_any_heavy_import(tmp_path):
    missing, photo = str(tmp_path / "missing.weights.h5"), str(tmp_path / "photo.jpg")
    (tmp_path / "photo.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not weights")
    (tmp_path / "big.weights.h5").write_bytes(b"")
    (tmp_path / "big.card.json").write_text(json.dumps({"input_size": 4096}))
    (tmp_path / "deep.weights.h5").write_bytes(b"")
    (tmp_path / "deep.card.json").write_text("[" * 100_000 + "]" * 100_000)
    cases = {
        ("score", photo, "--weights", missing): "does not exist",
        ("score", photo, "--weights", str(tmp_path / "notes.txt")): "unknown weights format",
        ("score", photo, "--weights", str(tmp_path / "big.weights.h5")): "NIMA_MAX_INPUT_SIZE=4096",
        ("score", photo, "--weights", str(tmp_path / "deep.weights.h5")): "nested too deeply",
        ("score", photo, "--batch-size", "0"): "--batch-size",
        ("export", "--weights", missing, "--out", str(tmp_path / "m.tflite")): "does not exist",
        ("export", "--weights", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "m.onnx")): "must end in .tflite",
        ("serve", "--weights", missing): "does not exist",
        ("serve", "--engine", "tflite", "--weights", str(tmp_path / "notes.txt")): "unknown weights format",
        ("train", "--epochs", "-1", "--backbone", "resnet", "--cache-dir", str(tmp_path)): "backbone must be",
        ("train", "--overwrite", "maybe"): "unrecognized arguments",
        ("pipeline", str(tmp_path / "missing.yaml")): "cannot read",
        ("weights", "--frobnicate"): "unrecognized arguments",
    }
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps([list(argv) for argv in cases])],
                          capture_output=True, text=True, timeout=120, env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    for answer, message in zip(json.loads(proc.stdout), cases.values(), strict=True):
        assert answer["code"] == 2 and message in answer["err"], answer
        assert answer["heavy"] == [], answer  # nothing of TensorFlow, Keras or JAX was imported
        assert answer["seconds"] < 5, answer  # about 0.1 s each on a 2-core CPU, after the first
    assert "Traceback" not in proc.stderr


def test_train_without_data_summary_uses_the_one_the_demo_wrote(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NIMA_LAB_HOME", str(tmp_path))
    assert main(["train"]) == 2
    err = capsys.readouterr().err
    assert "no --data-summary given and no notebook 01 summary" in err
    summary = tmp_path / "reports" / "demo" / "01_ava_download_cleanup" / "summary.json"
    summary.parent.mkdir(parents=True)
    cache = tmp_path / "data" / "cache_256"
    data = {"images_dir": str(tmp_path / "data" / "images"), "splits": {"dir": str(tmp_path / "data" / "splits")}}
    summary.write_text(json.dumps({**data, "cache": {"dir": str(cache), "size": 256}}))
    assert main(["train", "--epochs", "0", "--head-epochs", "0"]) == 2
    err = capsys.readouterr().err
    assert f"data from {summary}" in err and f"cache_dir '{cache}' holds no training cache" in err
    own = tmp_path / "reports" / "01_ava" / "summary.json"  # notebook 01's own run comes first
    own.parent.mkdir(parents=True)
    own.write_text(json.dumps({**data, "cache": {"dir": str(tmp_path / "own"), "size": 256}}))
    assert main(["train"]) == 2
    assert f"data from {own}" in capsys.readouterr().err


def test_train_help_has_flags_one_line_each_and_only_real_defaults(capsys):
    import dataclasses

    from nima_utils.train.cli import HELP
    from nima_utils.train.config import TrainConfig

    assert set(HELP) == {f.name for f in dataclasses.fields(TrainConfig)}
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--overwrite, --no-overwrite" in text and "--freeze-batchnorm, --no-freeze-batchnorm" in text
    assert "TEXT" not in text and "default: )" not in text and "default: None" not in text
    assert "--epochs N all-layer epochs (phase 2, or the paper schedule) (default: 15)" in text
