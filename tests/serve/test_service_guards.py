"""`nima serve` against hostile clients on 127.0.0.1: half-sent heads, trickled bodies, endless chunked
bodies and more connections than allowed. Each is cut off in time, the service keeps answering, and the
log holds no traceback. Every loop is bounded in count and time."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.server_process import nima_server

HEADER_TIMEOUT, BODY_TIMEOUT, MAX_CONNECTIONS = 1.0, 2.0, 40


@pytest.fixture(scope="module")
def server(tiny_weights):
    args = ["--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT),
            "--max-connections", str(MAX_CONNECTIONS), "--max-request-mb", "1"]
    with nima_server(tiny_weights, *args) as (url, proc):
        yield url, proc
    log = proc.stdout.read()
    assert "Traceback" not in log and "Too many open files" not in log, log[-3000:]


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    return s


def read_until_closed(s: socket.socket, limit: float = 10) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    start, data = time.monotonic(), b""
    s.settimeout(limit)
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - start


def post_head(path: str, framing: bytes) -> bytes:
    """A multipart POST's head with its body framing (Content-Length or chunked)."""
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n%s\r\n\r\n"
            % (path.encode(), framing))


def healthy(url: str) -> bool:
    return httpx.get(url + "/health", timeout=10).status_code == 200


def test_half_sent_heads_get_408_and_are_closed_while_others_are_served(server):
    url, _ = server
    slow = [connect(url) for _ in range(20)]
    for s in slow:
        s.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data")  # never finished
    assert healthy(url)  # served while 20 heads hang
    outcomes = [read_until_closed(s) for s in slow]
    for data, seconds in outcomes:
        assert data.startswith(b"HTTP/1.1 408") and b"request head not received" in data
        assert seconds < HEADER_TIMEOUT + 3
    for s in slow:
        s.close()


def test_idle_connections_are_closed_too(server):
    url, _ = server
    s = connect(url)  # connects and says nothing
    data, seconds = read_until_closed(s)
    assert data.startswith(b"HTTP/1.1 408") and seconds < HEADER_TIMEOUT + 3
    s.close()


def test_connections_beyond_the_cap_get_503_at_once_and_the_service_recovers(server):
    url, _ = server
    held = [connect(url) for _ in range(MAX_CONNECTIONS)]
    time.sleep(0.3)
    extra = connect(url)
    data, seconds = read_until_closed(extra)
    assert data.startswith(b"HTTP/1.1 503") and b"too many connections" in data and seconds < 2
    extra.close()
    for s in held:  # the held ones time out like any silent client
        read_until_closed(s)
        s.close()
    assert healthy(url)


def test_trickled_body_gets_408_and_the_connection_is_closed(server):
    url, _ = server
    s = connect(url)
    s.sendall(post_head("/score", b"Content-Length: 100000") + b"--b\r\n")
    for _ in range(3):  # a few bytes now and then, never the whole body
        time.sleep(0.3)
        s.sendall(b"x" * 10)
    data, seconds = read_until_closed(s)
    assert data.startswith(b"HTTP/1.1 408") and b"request body not received within" in data
    assert b"connection: close" in data.lower() and seconds < BODY_TIMEOUT + 3
    s.close()
    assert healthy(url)


def test_over_limit_chunked_body_gets_413_and_nothing_more_is_read(server):
    url, _ = server
    s = connect(url)
    s.sendall(post_head("/score/batch", b"Transfer-Encoding: chunked"))
    part = (b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n")
    s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"  # 64 KiB chunks, no end: 1 MiB is the limit here
    sent, cut = 0, False
    s.settimeout(5)
    while sent < 200 * (1 << 20):
        try:
            s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            cut = True  # the server closed the connection (or stopped reading): the body is refused
            break
        sent += len(chunk)
    assert cut, f"the server kept reading: {sent:,} bytes sent"
    assert sent < 64 * (1 << 20)
    data, _ = read_until_closed(s, limit=5)
    if data:  # the 413 arrives unless the reset beat it to the socket
        assert data.startswith(b"HTTP/1.1 413") and b"connection: close" in data.lower()
    s.close()
    assert healthy(url)


def test_a_body_answered_early_is_not_drained(server):
    url, _ = server
    s = connect(url)
    s.sendall(post_head("/score", b"Content-Length: 900000") + b"not multipart at all")  # the parser gives up
    data, seconds = read_until_closed(s)
    assert data.startswith(b"HTTP/1.1 400") and seconds < HEADER_TIMEOUT  # closed, not left open for the rest
    s.close()


def test_over_limit_declared_body_gets_413_with_close(server):
    url, _ = server
    s = connect(url)
    s.sendall(post_head("/score", b"Content-Length: 999999999"))
    data, seconds = read_until_closed(s)
    assert data.startswith(b"HTTP/1.1 413") and b"connection: close" in data.lower() and seconds < 2
    s.close()


def test_open_file_limit_is_raised_for_the_connections():
    code = ("import resource; from nima_utils.serve.guards import raise_file_limit; "
            "resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1])); "
            "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]; fits = raise_file_limit(512); "
            "soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]; "
            "print(fits, soft, hard)")
    fits, soft, hard = map(int, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                               check=True).stdout.split())
    if hard >= 640:
        assert (fits, soft) == (512, 640)
    else:
        assert fits == max(1, min(512, hard - 128)) and soft == hard


def test_keep_alive_and_pipelined_requests_are_still_served(server):
    url, _ = server
    s = connect(url)
    get = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    s.sendall(get + get)  # two requests in one write (pipelined)
    data, seconds = read_until_closed(s)  # both answered, then the idle connection times out
    assert data.count(b"HTTP/1.1 200") == 2 and seconds < HEADER_TIMEOUT + 6
    s.close()
    with httpx.Client(base_url=url, timeout=10) as http:  # one connection, several requests
        assert all(http.get("/health").status_code == 200 for _ in range(3))
