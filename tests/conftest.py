"""Shared fixtures. `../shared` (real weights, AVA labels and photos) is optional: tests that need
it skip with a reason when it is absent. Its Keras cache is staged before Keras is imported."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NIMA_SHARED", ROOT.parent / "shared"))
IDEALO = SHARED / "weights" / "nima_mobilenet_aesthetic_idealo.hdf5"
AVA = SHARED / "ava"

if (SHARED / "keras-cache" / "models").is_dir() and "KERAS_HOME" not in os.environ:
    _cache = Path(tempfile.mkdtemp(prefix="nima-keras-home-"))
    shutil.copytree(SHARED / "keras-cache" / "models", _cache / "models")
    os.environ["KERAS_HOME"] = str(_cache)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"needs {path} (../shared is not staged beside the checkout)")
    return path


@pytest.fixture(scope="session")
def idealo_weights() -> Path:
    return need(IDEALO)


@pytest.fixture(scope="session")
def ava_dir() -> Path:
    return need(AVA)


@pytest.fixture(scope="session")
def imagenet_cache() -> Path:
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return need(home / "models" / "mobilenet_1_0_224_tf.h5")


@pytest.fixture(scope="session")
def idealo_engine(idealo_weights):
    from nima_utils.engine import KerasEngine

    return KerasEngine(idealo_weights)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A small randomly initialised NIMA (alpha 0.25, 64 px) saved with its card: fast to run."""
    from nima_utils.model import build_from_card
    from nima_utils.model_card import ModelCard
    from nima_utils.weights import save_nima

    card = ModelCard(alpha=0.25, input_size=64, resize="bilinear", training_data="none (random init, tests)")
    path = tmp_path_factory.mktemp("weights") / "tiny.weights.h5"
    return save_nima(build_from_card(card), path, card)
