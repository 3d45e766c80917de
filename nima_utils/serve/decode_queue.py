"""Fair decoding for the service: requests take turns at the decode threads, under a time budget.

A thread pool alone is first come, first served: a client that uploads 64 large photos queues 64 jobs
and a single photo sent a moment later waits for all of them. Here each request queues its own files,
and whenever a thread is free the next file comes from the next waiting request in turn, so a photo
waits for at most one decode per thread, however large the other batches are. A request whose files
have not started decoding when its budget runs out gets `DecodeBudgetExceeded` for each of them.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class DecodeBudgetExceeded(Exception):
    """The request's decoding time ran out before this file's turn came."""


class FairDecoder:
    """Runs blocking decode jobs in `workers` threads, one request's job after another's in turn."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="nima-decode")
        self.free = workers
        self.turns: OrderedDict[int, deque[asyncio.Future[None]]] = OrderedDict()
        self._ids = itertools.count()

    def new_request(self) -> int:
        """A key for one request's jobs."""
        return next(self._ids)

    def _dispatch(self) -> None:
        while self.free > 0 and self.turns:
            key, waiting = next(iter(self.turns.items()))
            go = waiting.popleft()
            if waiting:
                self.turns.move_to_end(key)  # its next job waits until every other request has had a turn
            else:
                del self.turns[key]
            if not go.done():  # a cancelled waiter gives its place to the next one
                self.free -= 1
                go.set_result(None)

    async def run(self, key: int, deadline: float, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a decode thread when this request's turn comes; `DecodeBudgetExceeded` if the
        turn comes after `deadline` (time.monotonic())."""
        go: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.turns.setdefault(key, deque()).append(go)
        self._dispatch()
        try:
            await go
        except asyncio.CancelledError:
            if go.done() and not go.cancelled():
                self._release()  # the turn was given just as the request went away
            raise
        try:
            if time.monotonic() > deadline:
                raise DecodeBudgetExceeded
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        finally:
            self._release()

    def _release(self) -> None:
        self.free += 1
        self._dispatch()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True)
