"""The scoring service: FastAPI app with single and batch upload, a web page and hard input limits.

The model is loaded once at start-up. Decoding runs in threads that requests take in turn
(`decode_queue`), inference in one inference thread, never on the event loop; concurrent requests
are scored together in batches. Slow, endless and oversized requests are cut off (`http_guards`),
and error bodies never repeat what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

from nima_utils.images import DEFAULT_MAX_PIXELS, ImageLoadError
from nima_utils.model.engine import Engine, load_engine
from nima_utils.scoring import DEFAULT_THRESHOLD, merge_results, prepare
from nima_utils.serve.decode_queue import DecodeBudgetExceeded, FairDecoder
from nima_utils.serve.guards import BodyGuard

MiB = 1 << 20
FAVICON = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
           b'fill="#1c1917"/><path d="M3 13V9h2v4zm4 0V5h2v8zm4 0V3h2v10z" fill="#60a5fa"/></svg>')
"""The page's icon: three rising bars on the header's dark grey."""
ERROR_STATUS = {"empty": 400, "missing": 400, "not_image": 415, "unsupported": 415, "too_large": 413, "corrupt": 422}
"""HTTP status of each kind of bad upload."""


@dataclasses.dataclass
class Limits:
    """What one request may carry; anything beyond gets a 4xx naming the reason."""

    max_file_bytes: int = 20 * MiB
    max_request_bytes: int = 200 * MiB
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_batch: int = 64
    decode_seconds: float = 60.0
    """A request's files must start decoding within this many seconds of its arrival, else they get 503."""
    header_timeout: float = 10.0
    """A request head must arrive within this many seconds (of connecting, or of the last response)."""
    body_timeout: float = 120.0
    """A request body must arrive whole within this many seconds of its head."""
    max_connections: int = 512
    """Connections beyond this many get 503 at once (set under the process's open-file limit)."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if not getattr(self, field.name) > 0:
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


MAX_NAME = 255
"""Longest file name repeated in a reply (longer ones are cut and end in an ellipsis)."""


def _short_name(name: str | None) -> str:
    name = name or "upload"
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


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


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where and what, never the submitted value: FastAPI's default 422 repeats every input, so a
    190 MiB form came back as a 1.1 GB reply."""
    errors = exc.errors()
    out = [{"loc": [str(part)[:64] for part in e.get("loc", ())][:8], "msg": str(e.get("msg", ""))[:200],
            "type": str(e.get("type", ""))[:64]} for e in errors[:10]]
    if len(errors) > 10:
        out.append({"loc": [], "msg": f"and {len(errors) - 10} more problems", "type": "truncated"})
    return out


_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])~?/(?:[^\s/()'\",;]+/)*([^\s/()'\",;]+)/?")


def public(value: Any) -> Any:
    """`value` (a model card's fields) with every absolute path cut to its last name: /health is read
    by anyone who can reach the service, and the folders of this machine are none of their business."""
    if isinstance(value, str):
        return _ABSOLUTE_PATH.sub(r"\1", value)
    if isinstance(value, dict):
        return {k: public(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [public(v) for v in value]
    return value


class _Service:
    """What the routes share: the config, and the engine, batcher and decoders the lifespan starts."""

    def __init__(self, config: ServiceConfig, engine: Engine | None = None) -> None:
        self.config, self.limits, self.given = config, config.limits, engine

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        config = self.config
        self.engine = self.given or await asyncio.to_thread(load_engine, config.weights, config.engine)
        self.batcher = MicroBatcher(self.engine, config.inference_batch)
        self.batcher.start()
        self.decoder = FairDecoder(config.decode_workers)
        try:
            yield
        finally:
            await self.batcher.stop()
            self.decoder.shutdown()

    async def decode(self, upload: UploadFile, request_key: int, deadline: float) -> np.ndarray | FileError:
        """One upload as the model's input, or the error that names it (too large, not an image, out of time)."""
        limits, name = self.limits, _short_name(upload.filename)
        if upload.size is not None and upload.size > limits.max_file_bytes:
            return FileError(filename=name, status=413,
                             error=f"file is {upload.size:,} bytes, over the limit of {limits.max_file_bytes:,}")
        data = await upload.read()
        try:
            return await self.decoder.run(request_key, deadline, prepare, data, self.engine, limits.max_pixels)
        except ImageLoadError as exc:
            return FileError(filename=name, error=str(exc), status=ERROR_STATUS.get(exc.kind, 422))
        except DecodeBudgetExceeded:
            return FileError(filename=name, status=503,
                             error=f"not decoded: the request's decoding time ({limits.decode_seconds:g} s) ran out; "
                                   "send fewer or smaller images at a time")

    async def score_uploads(self, uploads: list[UploadFile]) -> list[Score | FileError]:
        """Decode a request's uploads in turn with other requests, score them in one batch, in order."""
        key, deadline = self.decoder.new_request(), time.monotonic() + self.limits.decode_seconds
        decoded = await asyncio.gather(*(self.decode(u, key, deadline) for u in uploads))
        inputs = [x for x in decoded if isinstance(x, np.ndarray)]
        probs = await self.batcher.predict(np.stack(inputs)) if inputs else np.empty((0, 10))
        outcomes = [(_short_name(u.filename), x.error if isinstance(x, FileError) else None)
                    for u, x in zip(uploads, decoded, strict=True)]
        return [x if isinstance(x, FileError) else Score(filename=r.source, mean=r.mean, std=r.std, probs=r.probs,
                                                          decision=r.decision, threshold=r.threshold)
                for x, r in zip(decoded, merge_results(outcomes, probs, self.config.threshold), strict=True)]


def _add_scoring_routes(app: FastAPI, service: _Service) -> None:
    limits = service.limits

    @app.post("/score", response_model=Score, responses={400: {}, 413: {}, 415: {}, 422: {}})
    async def score(file: Annotated[UploadFile, File(description="one image")]) -> Score:
        """Score one image (multipart field `file`)."""
        (result,) = await service.score_uploads([file])
        if isinstance(result, FileError):
            raise HTTPException(result.status, {"filename": result.filename, "error": result.error})
        return result

    @app.post("/score/batch", response_model=BatchScores, responses={400: {}, 413: {}})
    async def score_batch(files: Annotated[list[UploadFile], File(description="several images")]) -> BatchScores:
        """Score several images (multipart field `files`): one result per file, in order; a bad
        file gets its own error entry and does not fail the others."""
        if len(files) > limits.max_batch:
            raise HTTPException(413, f"{len(files)} files in one batch, over the limit of {limits.max_batch}")
        results = await service.score_uploads(files)
        failed = sum(isinstance(r, FileError) for r in results)
        return BatchScores(results=results, scored=len(results) - failed, failed=failed)


def _add_page_routes(app: FastAPI, service: _Service) -> None:
    @app.get("/health")
    @app.head("/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        """Status, the loaded model's card (names and fingerprints, no local paths), engine and limits."""
        eng = service.engine
        return {
            "status": "ok",
            "engine": eng.name,
            "weights": eng.weights.name,
            "model": public(eng.card.to_dict()),
            "threshold": service.config.threshold,
            "limits": dataclasses.asdict(service.limits),
        }

    page = resources.files("nima_utils.serve").joinpath("static/index.html").read_text()

    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    @app.api_route("/favicon.ico", methods=["GET", "HEAD"], include_in_schema=False)
    async def favicon() -> Response:  # browsers ask for it whatever the page says: no 404 in their console
        return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": _validation_errors(exc)}, status_code=422)


def create_app(config: ServiceConfig | None = None, engine: Engine | None = None) -> FastAPI:
    """The service; `engine` may be given ready-made (tests), else it is loaded at start-up."""
    config = config or ServiceConfig()
    service = _Service(config, engine)
    # Swagger UI and ReDoc from fastapi-offline's copies of their files: /docs works with no network.
    app = FastAPIOffline(
        title="NIMA Lab scoring service",
        description="Aesthetic scores (1-10) of photos with NIMA. Bad input gets a 4xx naming the file and reason.",
        version="1",
        lifespan=service.lifespan,
    )
    app.add_middleware(BodyGuard, max_bytes=config.limits.max_request_bytes, body_timeout=config.limits.body_timeout)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    _add_scoring_routes(app, service)
    _add_page_routes(app, service)
    return app


def serve(app: FastAPI, limits: Limits, host: str, port: int, log_level: str = "info") -> None:
    """Run `app` with uvicorn behind the connection guards, after raising the open-file limit so that
    `limits.max_connections` sockets fit (fewer are allowed, with a warning, where they cannot)."""
    import uvicorn

    from nima_utils.serve.guards import guarded_protocol, raise_file_limit

    connections = raise_file_limit(limits.max_connections)
    if connections < limits.max_connections:
        print(f"nima serve: the open-file limit allows {connections} connections, not {limits.max_connections}",
              file=sys.stderr)
    protocol = guarded_protocol(limits.header_timeout, connections)
    uvicorn.run(app, host=host, port=port, log_level=log_level, http=protocol)
