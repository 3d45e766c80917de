"""A local HTTP file server on 127.0.0.1 for download tests: honours Range, and can be told to
fail some requests with 503 or cut some bodies mid-way, following a per-request plan. `special`
maps URL paths to functions that answer in their own (misbehaving) way."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: dict[str, Path], plan: str = "",
                 special: dict[str, Callable[[Handler], None]] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.files, self.plan, self.special = files, plan, special or {}
        self.requests: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FileServer

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests.append((self.path, self.headers.get("Range")))
            n = len(self.server.requests)
        if self.path in self.server.special:
            self.server.special[self.path](self)
            return
        path = self.server.files.get(self.path)
        if path is None:
            self.send_error(404)
            return
        action = self.server.plan[n - 1] if n <= len(self.server.plan) else "."
        if action == "f":
            self.send_error(503)
            return
        data = path.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if action == "c":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@contextlib.contextmanager
def serve(files: dict[str, Path], plan: str = "",
          special: dict[str, Callable[[Handler], None]] | None = None) -> Iterator[FileServer]:
    """Serve `files` by URL path. `plan` says what the n-th request gets: "f" a 503, "c" half its
    body and a closed connection, anything else (and every request past the plan) the real thing."""
    server = FileServer(files, plan, special)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
