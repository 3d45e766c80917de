"""The LiteRT engine: export with card, agreement with Keras, CLI and errors."""

import glob

import numpy as np
import pytest

from nima_utils.cli import main
from nima_utils.data.sample_images import sample_photos
from nima_utils.model.card import read_card
from nima_utils.model.engine import KerasEngine, TFLiteEngine, export_tflite
from nima_utils.model.weights import WeightsError
from nima_utils.scoring import score_images


@pytest.fixture(scope="module")
def tiny_tflite(tiny_weights, tmp_path_factory):
    return export_tflite(tiny_weights, tmp_path_factory.mktemp("litert") / "tiny.tflite")


def means(engine, paths):
    return np.array([r.mean for r in score_images(paths, engine, batch_size=4)])


def test_export_writes_model_and_card(tiny_tflite, tiny_weights):
    card = read_card(tiny_tflite)
    assert card.input_size == 64 and card.resize == "bilinear"
    assert read_card(tiny_weights).fingerprint in card.notes


def test_tiny_model_agrees_with_keras(tiny_tflite, tiny_weights):
    paths = sample_photos()
    np.testing.assert_allclose(means(TFLiteEngine(tiny_tflite), paths), means(KerasEngine(tiny_weights), paths),
                               atol=1e-4)


def test_idealo_litert_agrees_within_a_hundredth(idealo_weights, ava_dir, tmp_path):
    paths = sample_photos() + sorted(glob.glob(str(ava_dir / "images" / "*.jpg")))
    keras_means = means(KerasEngine(idealo_weights), paths)
    litert = TFLiteEngine(export_tflite(idealo_weights, tmp_path / "idealo.tflite"))
    assert litert.card.padding == "symmetric" and litert.card.resize == "nearest"
    assert np.abs(means(litert, paths) - keras_means).max() < 0.01


def test_engine_converts_keras_weights_on_the_fly(tiny_weights):
    engine = TFLiteEngine(tiny_weights)
    assert engine.card.input_size == 64
    out = engine.predict(np.zeros((3, 64, 64, 3), np.float32))
    assert out.shape == (3, 10)
    assert engine.predict(np.zeros((1, 64, 64, 3), np.float32)).shape == (1, 10)  # batch size changes


def test_cli_tflite_engine_and_export(tiny_weights, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    assert main(["export", "--weights", str(tiny_weights), "--out", str(out)]) == 0
    assert out.is_file() and (tmp_path / "m.card.json").is_file()
    scores = tmp_path / "s.csv"
    photo = str(sample_photos()[0])
    assert main(["score", photo, "--engine", "tflite", "--weights", str(out), "--out", str(scores), "--quiet"]) == 0
    assert scores.read_text().count("\n") == 2
    assert main(["export", "--weights", str(tiny_weights), "--out", str(tmp_path / "m.bin")]) == 2
    assert ".tflite" in capsys.readouterr().err


def test_not_a_tflite_file(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"definitely not a flatbuffer")
    with pytest.raises(WeightsError, match="not a LiteRT"):
        TFLiteEngine(bad)


def test_tflite_scoring_prints_no_delegate_line(tiny_tflite):
    """LiteRT says "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on stderr; nima's stderr is its own."""
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "nima_utils.cli", "score", str(sample_photos()[0]), "--engine",
                           "tflite", "--weights", str(tiny_tflite), "--quiet"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert proc.returncode == 0, proc.stderr
    assert [line.split(":")[0] for line in proc.stderr.splitlines()] == ["nima score"] * 3, proc.stderr
