"""Batch scoring: decode and resize in a thread pool while the engine scores the previous batch."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image

from nima_utils.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image, model_view, preprocess
from nima_utils.model.card import ModelCard
from nima_utils.model.engine import Engine
from nima_utils.model.metrics import mean_score, std_score

DEFAULT_THRESHOLD = 5.1
"""The service's accept/reject cut on the mean score (the paper's binary split uses 5.0)."""


@dataclasses.dataclass
class ScoreResult:
    """One image's score distribution and decision, or the reason it could not be scored."""

    source: str
    mean: float | None = None
    std: float | None = None
    probs: list[float] | None = None
    decision: str | None = None
    threshold: float = DEFAULT_THRESHOLD
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def decide(mean: float, threshold: float = DEFAULT_THRESHOLD) -> str:
    """'accepted' if the mean score is above the threshold, else 'rejected'."""
    return "accepted" if mean > threshold else "rejected"


def results_from_probs(sources: list[str], probs: np.ndarray, threshold: float) -> list[ScoreResult]:
    """Turn an engine's (N, 10) output into results."""
    means, stds = mean_score(probs), std_score(probs)
    return [
        ScoreResult(s, float(m), float(sd), [float(v) for v in p], decide(float(m), threshold), threshold)
        for s, m, sd, p in zip(sources, np.atleast_1d(means), np.atleast_1d(stds), probs, strict=True)
    ]


def merge_results(outcomes: list[tuple[str, str | None]], probs: np.ndarray, threshold: float) -> list[ScoreResult]:
    """Results in input order from (source, error or None) outcomes and the engine's output for
    the outcomes without an error, in the same order."""
    good = [source for source, error in outcomes if error is None]
    scored = iter(results_from_probs(good, probs, threshold))
    return [ScoreResult(s, threshold=threshold, error=e) if e else next(scored) for s, e in outcomes]


def model_input(img: Image.Image, card: ModelCard, resize: str | None = None) -> np.ndarray:
    """The model's input for one photo, as its card prescribes (`resize` overrides the card's interpolation)."""
    pixels = model_view(img, card.input_size, resize or card.resize, card.resize_size)
    return preprocess(pixels, card.preprocessing)


def prepare(source: str | Path | bytes, engine: Engine, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode one image and turn it into the engine's input, as its model card prescribes."""
    return model_input(load_image(source, max_pixels), engine.card)


def score_images(
    sources: Iterable[str | Path],
    engine: Engine,
    batch_size: int = 32,
    threshold: float = DEFAULT_THRESHOLD,
    workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Iterator[ScoreResult]:
    """Score images in input order; an unreadable image yields a result with its error.

    Decoding of the next batch runs in `workers` threads while the engine scores the current one,
    with at most two batches decoded ahead, so memory stays bounded on any number of files.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    workers = workers or min(8, (os.cpu_count() or 1) + 2)
    todo = iter(sources)
    pending: deque[tuple[str, Future[np.ndarray]]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="nima-decode") as pool:

        def fill() -> None:
            while len(pending) < 2 * batch_size:
                item = next(todo, None)
                if item is None:
                    return
                pending.append((str(item), pool.submit(prepare, item, engine, max_pixels)))

        fill()
        while pending:
            chunk = [pending.popleft() for _ in range(min(batch_size, len(pending)))]
            fill()
            outcomes: list[tuple[str, str | None]] = []
            inputs = []
            for source, future in chunk:
                try:
                    inputs.append(future.result())
                    outcomes.append((source, None))
                except ImageLoadError as exc:
                    outcomes.append((source, str(exc)))
                except Exception as exc:  # one image's trouble (memory, say) must not end the others' run
                    outcomes.append((source, f"could not prepare the image ({type(exc).__name__}: {exc})"))
            probs = engine.predict(np.stack(inputs)) if inputs else np.empty((0, 10))
            yield from merge_results(outcomes, probs, threshold)


def shown_path(source: str) -> str:
    """`source` as valid Unicode: the bytes of a file name that is not UTF-8 are written as \\xNN."""
    try:
        source.encode("utf-8")
        return source
    except UnicodeEncodeError:
        return os.fsencode(source).decode("utf-8", "backslashreplace")


@contextlib.contextmanager
def results_file(path: str | Path) -> Iterator[IO[str]]:
    """Write UTF-8 text to a temporary file beside `path` and rename it over `path` when the block
    ends, so `path` holds either its old content or the complete new one. If the block is interrupted
    (Ctrl-C), the rows written so far are kept as `path.partial`; on any other error they are dropped."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    stream = open(tmp, "x", encoding="utf-8", newline="")  # noqa: SIM115
    try:
        yield stream
        stream.flush()
        os.fsync(stream.fileno())
        stream.close()
        tmp.replace(path)
    except KeyboardInterrupt:
        stream.close()
        tmp.replace(path.with_name(path.name + ".partial"))
        raise
    finally:
        stream.close()
        tmp.unlink(missing_ok=True)


CSV_FIELDS = ["path", "mean", "std", *[f"p{i}" for i in range(1, 11)], "decision", "threshold", "error"]


class ResultWriter:
    """Writes results as CSV or JSON Lines (chosen by the file suffix), one row per image."""

    def __init__(self, stream: IO[str], fmt: str = "csv") -> None:
        if fmt not in ("csv", "jsonl"):
            raise ValueError(f"unknown output format {fmt!r} (csv or jsonl)")
        self.stream, self.fmt = stream, fmt
        if fmt == "csv":
            self._csv = csv.DictWriter(stream, fieldnames=CSV_FIELDS, lineterminator="\n")
            self._csv.writeheader()

    @staticmethod
    def format_for(path: str | Path) -> str:
        suffix = Path(path).suffix.lower()
        if suffix not in (".csv", ".jsonl"):
            raise ValueError(f"--out must end in .csv or .jsonl, got {path}")
        return suffix[1:]

    def write(self, r: ScoreResult) -> None:
        """One row; a path that is not valid UTF-8 is written as `shown_path` shows it."""
        if self.fmt == "jsonl":
            row = {"path": shown_path(r.source), **{k: v for k, v in r.to_dict().items() if k != "source"}}
            self.stream.write(json.dumps(row) + "\n")
            return
        row: dict[str, Any] = {"path": shown_path(r.source), "decision": r.decision or "", "threshold": r.threshold}
        row["error"] = r.error or ""
        if r.ok:
            row.update(mean=f"{r.mean:.4f}", std=f"{r.std:.4f}")
            row.update({f"p{i}": f"{p:.6f}" for i, p in enumerate(r.probs or [], start=1)})
        self._csv.writerow(row)
        self.stream.flush()
