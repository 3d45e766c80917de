"""/health tells names and fingerprints, never this machine's paths; the page explains its numbers and
has an icon. A stand-in engine (NumPy) keeps these tests free of TensorFlow."""

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from nima_utils.model.card import ModelCard
from nima_utils.serve.app import ServiceConfig, create_app


class UniformEngine:
    name = "keras"

    def __init__(self, folder: Path) -> None:
        self.weights = folder / "runs" / "demo" / "nima.weights.h5"
        self.card = ModelCard(input_size=64, fingerprint="sha256:abc",
                              training_data=f"training cache {folder}/data/cache_256 (256 px, bilinear)",
                              training={"split_dir": f"{folder}/data/splits/", "initial_weights": "imagenet"},
                              notes=f"fine-tuned from {folder}/weights/idealo.hdf5 (sha256:def)")

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.full((len(batch), 10), 0.1)


def test_health_shows_names_and_fingerprints_not_paths(tmp_path):
    with TestClient(create_app(ServiceConfig(), UniformEngine(tmp_path))) as client:
        reply = client.get("/health")
    assert reply.status_code == 200
    assert str(tmp_path) not in reply.text and "/data/" not in reply.text
    model = reply.json()["model"]
    assert model["training_data"] == "training cache cache_256 (256 px, bilinear)"
    assert model["training"]["split_dir"] == "splits" and model["fingerprint"] == "sha256:abc"
    assert model["notes"] == "fine-tuned from idealo.hdf5 (sha256:def)" and reply.json()["weights"] == "nima.weights.h5"


def test_page_says_what_its_numbers_are_and_has_an_icon(tmp_path):
    with TestClient(create_app(ServiceConfig(), UniformEngine(tmp_path))) as client:
        page, icon = client.get("/").text, client.get("/favicon.ico")
    assert "±" not in page and "ratings spread" in page and "1 (worst) to 10 (best)" in page
    assert '<link rel="icon" href="favicon.ico"' in page
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg")
