"""Inference engines: something that maps a batch of model inputs to score distributions."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from nima_utils.model.card import ModelCard, community_card, read_card, write_card
from nima_utils.native_stderr import muted


class Engine(Protocol):
    """A loaded NIMA model that scores preprocessed batches (N, size, size, 3) -> (N, 10)."""

    name: str
    card: ModelCard
    weights: Path

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


class KerasEngine:
    """The Keras model itself (TensorFlow backend); any device TensorFlow sees. Loaded from `weights`,
    or given in memory as `model` with its `card` (a study's rebuilt models; `weights` names their origin)."""

    name = "keras"

    def __init__(self, weights: str | Path, model: object | None = None, card: ModelCard | None = None) -> None:
        self.weights = Path(weights)
        if model is None or card is None:
            from nima_utils.model.weights import load_nima

            model, card = load_nima(self.weights)
        self.model, self.card = model, card
        # Keras traces its predict function anew for the second batch shape it sees, then relaxes the
        # shape: pay that (about 0.4 s) at load time rather than in a request's latency.
        size = self.card.input_size
        for n in (1, 2):
            self.predict(np.zeros((n, size, size, 3), np.float32))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_on_batch(batch), dtype=np.float64)  # type: ignore[attr-defined]


def export_tflite(weights: str | Path, out: str | Path) -> Path:
    """Convert a NIMA weights file (any format `load_nima` reads) to LiteRT/TFLite, with its card."""
    from nima_utils.model.weights import load_nima

    out = Path(out)
    if out.suffix != ".tflite":
        raise ValueError(f"{out}: a LiteRT model file must end in .tflite")
    model, card = load_nima(weights)
    out.parent.mkdir(parents=True, exist_ok=True)
    with muted():  # the converter's C++ log lines
        model.export(str(out), format="litert", verbose=False)
    card.notes = (card.notes + f" Converted to LiteRT from {Path(weights).name} ({card.fingerprint}).").strip()
    write_card(out, card)
    return out


class TFLiteEngine:
    """LiteRT (TFLite) interpreter with XNNPACK: the fast CPU engine.

    Given a Keras weights file instead of a `.tflite`, it converts it on the fly (a few seconds).
    """

    name = "tflite"

    def __init__(self, weights: str | Path, num_threads: int | None = None) -> None:
        from nima_utils.model.weights import WeightsError, check_weights

        self.weights = Path(weights)
        path = self.weights
        self.card = check_weights(path, engine="tflite") or community_card()
        from ai_edge_litert.interpreter import Interpreter

        if path.suffix != ".tflite":
            self._tmp = tempfile.TemporaryDirectory(prefix="nima-litert-")
            path = export_tflite(path, Path(self._tmp.name) / (path.name.split(".")[0] + ".tflite"))
            self.card = read_card(path) or community_card()
        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads or os.cpu_count())
        except ValueError as exc:
            raise WeightsError(f"{path} is not a LiteRT/TFLite model: {exc}") from exc
        model_input = self.interpreter.get_input_details()[0]
        self._input = model_input["index"]
        self._output = self.interpreter.get_output_details()[0]["index"]
        self._shape: tuple[int, ...] | None = None
        self._lock = threading.Lock()  # an interpreter must not be invoked from two threads at once
        with muted():  # the first run creates the XNNPACK delegate, which says so on stderr
            self.predict(np.zeros((1, *model_input["shape"][1:]), np.float32))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            if batch.shape != self._shape:
                self.interpreter.resize_tensor_input(self._input, batch.shape)
                self.interpreter.allocate_tensors()
                self._shape = batch.shape
            self.interpreter.set_tensor(self._input, batch)
            self.interpreter.invoke()
            return np.array(self.interpreter.get_tensor(self._output), dtype=np.float64)


ENGINES = {"keras": KerasEngine, "tflite": TFLiteEngine}


def load_engine(weights: str | Path | None = None, engine: str = "keras") -> Engine:
    """Load `weights` (default: `weights.choose_weights`, human-vote models first) into an engine."""
    from nima_utils.model.weights import default_weights

    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; available: {', '.join(ENGINES)}")
    return ENGINES[engine](weights if weights is not None else default_weights())
