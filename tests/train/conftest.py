"""Fixtures of the training tests: a tiny configuration and the demo data it trains on."""

from pathlib import Path

import pytest

from tests.train_fixtures import demo_training_data

TINY = {"backbone": "mobilenet", "alpha": 0.25, "input_size": 64, "initial_weights": "none", "batch_size": 32,
        "seed": 3}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, Path]:
    return demo_training_data(tmp_path_factory.mktemp("train-data"))
