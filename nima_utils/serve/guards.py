"""Guards of the service's connections: slow or endless clients, oversized bodies, too many sockets.

Uvicorn answers a request once its head has arrived and reads the body as the app asks for it, but it
puts no limit on how long a head or a body may take, nor on how many connections are open: 1,100
half-sent requests used up a 1,024-file limit and every request failed. So:

- `guarded_protocol` (the HTTP protocol `nima serve` runs): a request head must arrive within
  `header_timeout` of the connection opening or of the previous response, else the client gets 408 and
  the connection is closed; connections beyond `max_connections` get 503 and are closed at once; a
  connection whose request was answered before its body ended is closed instead of drained.
- `BodyGuard` (ASGI middleware): the body must arrive within `body_timeout` and stay under `max_bytes`,
  declared or not; past either the client gets 408 or 413 and the connection is closed, so nothing
  more of that body is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("uvicorn.error")


def _closing_answer(detail: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of a short JSON error after which the connection is closed."""
    body = json.dumps({"detail": detail}).encode()
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")], body


def _raw_response(status: int, reason: str, detail: str) -> bytes:
    """`_closing_answer` as bytes on the wire, for answers sent before any request reached the app."""
    headers, body = _closing_answer(detail)
    head = b"".join(b"%s: %s\r\n" % pair for pair in headers)
    return b"HTTP/1.1 %d %s\r\n%s\r\n" % (status, reason.encode(), head) + body


def guarded_protocol(header_timeout: float, max_connections: int) -> type[H11Protocol]:
    """Uvicorn's h11 protocol with a deadline for each request head and a cap on open connections."""

    class GuardedH11Protocol(H11Protocol):
        _timer: asyncio.TimerHandle | None = None
        _waiting_after: object = None  # the cycle before the request head being waited for

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.write(_raw_response(503, "Service Unavailable",
                                              f"too many connections (over {max_connections}); try again later"))
                transport.close()
                return
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._waiting_after = self.cycle
            self._timer = self.loop.call_later(header_timeout, self._head_timed_out)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _head_timed_out(self) -> None:
            self._timer = None
            if self.transport.is_closing():
                return
            if self.conn.their_state is h11.IDLE:  # no request of theirs is under way: answer, then close
                self.transport.write(_raw_response(408, "Request Timeout",
                                                   f"request head not received within {header_timeout:g} s"))
            self.transport.close()

        def handle_events(self) -> None:
            super().handle_events()
            if self._timer is not None and self.cycle is not self._waiting_after:
                self._disarm()  # a new request head arrived: the app and BodyGuard take it from here

        def on_response_complete(self) -> None:
            if self.conn.their_state is h11.SEND_BODY:  # answered before the body ended (413, 408, 400):
                self.transport.close()  # stop reading it rather than drain whatever the client still sends
                return
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm()  # the next request head must come in time (a pipelined one may be under way)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11Protocol


class _Refused(Exception):
    """Raised inside `receive` when the body broke a limit; `BodyGuard` answers instead of the app."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class BodyGuard:
    """ASGI middleware: a request body over `max_bytes` gets 413 (at once when its Content-Length says
    so) and one not received whole within `body_timeout` seconds gets 408; either way the connection
    is closed and the rest of the body is not read."""

    def __init__(self, app: Any, max_bytes: int, body_timeout: float) -> None:
        self.app, self.max_bytes, self.body_timeout = app, max_bytes, body_timeout

    def _too_large(self) -> str:
        return f"request body larger than the limit of {self.max_bytes:,} bytes"

    @staticmethod
    async def _answer(send: Any, status: int, detail: str) -> None:
        headers, body = _closing_answer(detail)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._answer(send, 413, self._too_large())
            return
        deadline = time.monotonic() + self.body_timeout
        received = 0
        refused: _Refused | None = None
        started = body_done = False

        async def guarded_receive() -> dict:
            nonlocal received, refused, body_done
            if refused is not None:
                raise refused
            if body_done:
                return await receive()  # only a disconnect can come now
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                refused = _Refused(408, f"request body not received within {self.body_timeout:g} s")
                raise refused from None
            received += len(message.get("body", b""))
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            if received > self.max_bytes:
                refused = _Refused(413, self._too_large())
                raise refused
            return message

        async def guarded_send(message: dict) -> None:
            nonlocal started
            if refused is not None:
                return  # the app's answer to the broken body (a 400 from the form parser) is replaced
            started = True
            await send(message)

        with contextlib.suppress(_Refused):
            await self.app(scope, guarded_receive, guarded_send)
        if refused is not None and not started:
            log.info("%s: %s", scope.get("path"), refused.detail)
            await self._answer(send, refused.status, refused.detail)


def raise_file_limit(connections: int, spare: int = 128) -> int:
    """Raise this process's open-file limit so `connections` sockets and `spare` other files fit; return
    how many connections do fit (fewer when the hard limit is too low)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + spare
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return connections
    return max(1, min(connections, soft - spare))
