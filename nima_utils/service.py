"""The scoring service: FastAPI app with single and batch upload, a web page and hard input limits.

The model is loaded once at start-up. Decoding runs in a thread pool and inference in one
inference thread, never on the event loop; concurrent requests are scored together in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, File, HTTPException, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from nima_utils.engine import Engine, load_engine
from nima_utils.images import DEFAULT_MAX_PIXELS, ImageLoadError
from nima_utils.scoring import DEFAULT_THRESHOLD, merge_results, prepare

MiB = 1 << 20
ERROR_STATUS = {"empty": 400, "missing": 400, "not_image": 415, "unsupported": 415, "too_large": 413, "corrupt": 422}
"""HTTP status of each kind of bad upload."""


@dataclasses.dataclass
class Limits:
    """What one request may carry; anything beyond gets a 4xx naming the reason."""

    max_file_bytes: int = 20 * MiB
    max_request_bytes: int = 200 * MiB
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_batch: int = 64

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) < 1:
                raise ValueError(f"limit {field.name} must be positive")


@dataclasses.dataclass
class ServiceConfig:
    """How `nima serve` runs: which weights on which engine, the threshold, the limits."""

    weights: Path | None = None
    engine: str = "keras"
    threshold: float = DEFAULT_THRESHOLD
    limits: Limits = dataclasses.field(default_factory=Limits)
    inference_batch: int = 32
    decode_workers: int = max(2, os.cpu_count() or 1)


class Score(BaseModel):
    filename: str
    mean: float = Field(description="mean of the predicted rating distribution, 1..10")
    std: float = Field(description="standard deviation of the predicted distribution")
    probs: list[float] = Field(description="probabilities of the ratings 1..10")
    decision: str = Field(description="'accepted' if mean > threshold, else 'rejected'")
    threshold: float


class FileError(BaseModel):
    filename: str
    error: str
    status: int = Field(description="the HTTP status this file alone would get")


class BatchScores(BaseModel):
    results: list[Score | FileError]
    scored: int
    failed: int


class MicroBatcher:
    """Runs the engine in one thread; requests waiting while it works are scored together."""

    def __init__(self, engine: Engine, max_batch: int) -> None:
        self.engine, self.max_batch = engine, max_batch
        self.queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future[np.ndarray]]] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="nima-infer")
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.executor.shutdown(wait=True)

    async def predict(self, inputs: np.ndarray) -> np.ndarray:
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        await self.queue.put((inputs, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            size = len(items[0][0])
            while size < self.max_batch and not self.queue.empty():
                items.append(self.queue.get_nowait())
                size += len(items[-1][0])
            try:
                probs = await loop.run_in_executor(
                    self.executor, self.engine.predict, np.concatenate([x for x, _ in items])
                )
            except Exception as exc:
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for x, future in items:
                if not future.done():
                    future.set_result(probs[start : start + len(x)])
                start += len(x)


class BodyLimit:
    """ASGI middleware: refuse request bodies over `max_bytes` with 413, whether or not the
    client declared a Content-Length, before they are parsed or spooled to disk."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _detail(self) -> str:
        return f"request body larger than the limit of {self.max_bytes:,} bytes"

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            body = json.dumps({"detail": self._detail()}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                       (b"connection", b"close")]
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def limited() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self._detail())
            return message

        await self.app(scope, limited, send)


def create_app(config: ServiceConfig | None = None, engine: Engine | None = None) -> FastAPI:
    """The service; `engine` may be given ready-made (tests), else it is loaded at start-up."""
    config = config or ServiceConfig()
    limits = config.limits
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state["engine"] = engine or await asyncio.to_thread(load_engine, config.weights, config.engine)
        state["batcher"] = MicroBatcher(state["engine"], config.inference_batch)
        state["batcher"].start()
        state["decode"] = ThreadPoolExecutor(config.decode_workers, thread_name_prefix="nima-decode")
        try:
            yield
        finally:
            await state["batcher"].stop()
            state["decode"].shutdown(wait=True)

    app = FastAPI(
        title="NIMA Lab scoring service",
        description="Aesthetic scores (1-10) of photos with NIMA. Bad input gets a 4xx naming the file and reason.",
        version="1",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=limits.max_request_bytes)

    async def decode(upload: UploadFile) -> np.ndarray | FileError:
        name = upload.filename or "upload"
        if upload.size is not None and upload.size > limits.max_file_bytes:
            return FileError(filename=name, status=413,
                             error=f"file is {upload.size:,} bytes, over the limit of {limits.max_file_bytes:,}")
        data = await upload.read()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(state["decode"], prepare, data, state["engine"], limits.max_pixels)
        except ImageLoadError as exc:
            return FileError(filename=name, error=str(exc), status=ERROR_STATUS.get(exc.kind, 422))

    async def score_uploads(uploads: list[UploadFile]) -> list[Score | FileError]:
        decoded = await asyncio.gather(*(decode(u) for u in uploads))
        inputs = [x for x in decoded if isinstance(x, np.ndarray)]
        probs = await state["batcher"].predict(np.stack(inputs)) if inputs else np.empty((0, 10))
        outcomes = [(u.filename or "upload", x.error if isinstance(x, FileError) else None)
                    for u, x in zip(uploads, decoded, strict=True)]
        return [x if isinstance(x, FileError) else Score(filename=r.source, mean=r.mean, std=r.std, probs=r.probs,
                                                          decision=r.decision, threshold=r.threshold)
                for x, r in zip(decoded, merge_results(outcomes, probs, config.threshold), strict=True)]

    @app.post("/score", response_model=Score, responses={400: {}, 413: {}, 415: {}, 422: {}})
    async def score(file: Annotated[UploadFile, File(description="one image")]) -> Score:
        """Score one image (multipart field `file`)."""
        (result,) = await score_uploads([file])
        if isinstance(result, FileError):
            raise HTTPException(result.status, {"filename": result.filename, "error": result.error})
        return result

    @app.post("/score/batch", response_model=BatchScores, responses={400: {}, 413: {}})
    async def score_batch(files: Annotated[list[UploadFile], File(description="several images")]) -> BatchScores:
        """Score several images (multipart field `files`): one result per file, in order; a bad
        file gets its own error entry and does not fail the others."""
        if len(files) > limits.max_batch:
            raise HTTPException(413, f"{len(files)} files in one batch, over the limit of {limits.max_batch}")
        results = await score_uploads(files)
        failed = sum(isinstance(r, FileError) for r in results)
        return BatchScores(results=results, scored=len(results) - failed, failed=failed)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Status, the loaded model's card and engine, and the limits in force."""
        eng = state["engine"]
        return {
            "status": "ok",
            "engine": eng.name,
            "weights": eng.weights.name,
            "model": eng.card.to_dict(),
            "threshold": config.threshold,
            "limits": dataclasses.asdict(limits),
        }

    page = resources.files("nima_utils").joinpath("static/index.html").read_text()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    return app
