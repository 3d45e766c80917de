"""Inference engines: something that maps a batch of model inputs to score distributions."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from nima_utils.model_card import ModelCard


class Engine(Protocol):
    """A loaded NIMA model that scores preprocessed batches (N, size, size, 3) -> (N, 10)."""

    name: str
    card: ModelCard
    weights: Path

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


class KerasEngine:
    """The Keras model itself (TensorFlow backend); any device TensorFlow sees."""

    name = "keras"

    def __init__(self, weights: str | Path) -> None:
        from nima_utils.weights import load_nima

        self.weights = Path(weights)
        self.model, self.card = load_nima(self.weights)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_on_batch(batch), dtype=np.float64)


ENGINES = {"keras": KerasEngine}


def load_engine(weights: str | Path | None = None, engine: str = "keras") -> Engine:
    """Load `weights` (default: the newest in weights/, see `default_weights`) into an engine."""
    from nima_utils.weights import default_weights

    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; available: {', '.join(ENGINES)}")
    return ENGINES[engine](weights if weights is not None else default_weights())
