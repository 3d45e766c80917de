"""Start `nima serve` as a real process on a free 127.0.0.1 port, for load tests and the browser."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@contextlib.contextmanager
def served(cmd: list[str], health: str, name: str, timeout: float = 120,
           output: Callable[[subprocess.Popen], str] = lambda p: p.stdout.read() if p.stdout else "",
           **popen) -> Iterator[subprocess.Popen]:
    """Run `cmd` until `health` answers 200, then yield it; stopped (terminated, else killed) afterwards.
    A process that exits first raises with `output(process)`."""
    proc = subprocess.Popen(cmd, **popen)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {output(proc)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(health, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not come up")
            time.sleep(0.3)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def nima_server(weights: Path, *extra: str, timeout: float = 120) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    cmd = [sys.executable, "-m", "nima_utils.cli", "serve", "--weights", str(weights), "--port", str(port),
           "--log-level", "warning", *extra]
    url = f"http://127.0.0.1:{port}"
    with served(cmd, url + "/health", "nima serve", timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}) as proc:
        yield url, proc
