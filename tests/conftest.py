"""Shared fixtures. `../shared` (real weights, AVA labels and photos) is optional: tests that need
it skip with a reason when it is absent. The environment (Keras cache, a temporary project home)
is staged by the root conftest.py before Keras is imported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import IDEALO, SHARED

AVA = SHARED / "ava"


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
    from nima_utils.model.engine import KerasEngine

    return KerasEngine(idealo_weights)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A small randomly initialised NIMA (alpha 0.25, 64 px) saved with its card: fast to run."""
    from nima_utils.model.card import ModelCard
    from nima_utils.model.network import build_from_card
    from nima_utils.model.weights import save_nima

    card = ModelCard(alpha=0.25, input_size=64, resize="bilinear", training_data="none (random init, tests)")
    path = tmp_path_factory.mktemp("weights") / "tiny.weights.h5"
    return save_nima(build_from_card(card), path, card)


@pytest.fixture(scope="session")
def lively_weights(tiny_weights, tmp_path_factory) -> Path:
    """`tiny_weights` whose scores depend on the image. A freshly initialised MobileNet's features
    fade to ~1e-16 by the last block, so it scores every image 5.5; setting each BatchNormalization's
    moving statistics to those of a few real photos (data-dependent initialisation) keeps them alive."""
    import keras
    import numpy as np

    from nima_utils.images import model_view, preprocess
    from nima_utils.model.weights import load_nima, save_nima
    from tests.image_corpus import photo

    model, card = load_nima(tiny_weights)
    img = photo()
    batch = np.stack([preprocess(model_view(img.rotate(a), card.input_size, card.resize), card.preprocessing)
                      for a in (0, 90, 180, 270)])
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            h = np.asarray(keras.Model(model.input, layer.input)(batch, training=False))
            gamma, beta, _, _ = layer.get_weights()
            layer.set_weights([gamma, beta, h.mean(axis=(0, 1, 2)), h.var(axis=(0, 1, 2)) + 1e-3])
    return save_nima(model, tmp_path_factory.mktemp("weights") / "lively.weights.h5", card)
