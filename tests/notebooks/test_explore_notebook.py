"""Notebook 05 as a papermill job: its static version (fixed slider settings, saliency maps) read back."""

import json

import papermill as pm
import pytest

from nima_utils.study.explore import STATIC_SETTINGS
from tests import image_corpus
from tests.notebook_runner import run


def test_05_static_version_with_a_tiny_model_on_a_folder_with_broken_files(tmp_path, lively_weights):
    corpus = image_corpus.build(tmp_path / "corpus")
    report = tmp_path / "report"
    run("05_explore.ipynb", tmp_path, weights=str(lively_weights), images=str(corpus), max_images=100,
        saliency_images=2, report_dir=str(report))
    summary = json.loads((report / "summary.json").read_text())
    assert summary["images"]["n"] == len(image_corpus.GOOD) and set(summary["images"]["skipped"]) == set(
        image_corpus.BAD)
    settings = summary["settings"]
    assert [s["label"] for s in settings] == [s.label for s in STATIC_SETTINGS]
    assert all(1 <= s["mean"] <= 10 and abs(sum(s["probs"]) - 1) < 1e-3 for s in settings)
    assert len({s["mean"] for s in settings}) > 1  # the edits reach the model
    assert settings[-1]["resize"] == "bicubic" and settings[0]["resize"] == "bilinear"  # the card's, then overridden
    saliency = summary["saliency"]
    assert [(s["target"], s["layer"]) for s in saliency] == [("mean", "conv_pw_13_relu")] * 2 + [
        ("above5", "conv_pw_13_relu")] * 2
    assert saliency[0]["value"] == pytest.approx(settings[0]["mean"], abs=1e-3)  # the first photo, as is
    for figure in ("settings.png", "saliency.png"):
        assert (report / figure).stat().st_size > 10_000


def test_05_refuses_bad_parameters_before_any_work(tmp_path, lively_weights):
    report = tmp_path / "report"
    with pytest.raises(pm.PapermillExecutionError) as caught:
        run("05_explore.ipynb", tmp_path, weights=str(lively_weights), images=str(tmp_path / "nowhere"),
            saliency_images=-1, report_dir=str(report))
    message = str(caught.value)
    assert "invalid notebook 05 (explore) parameters:" in message and "  - images: " in message
    assert "  - saliency_images: must be a whole number" in message
    assert not report.exists()
