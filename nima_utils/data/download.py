"""Resumable, verified downloads over HTTP(S) or file:// with retries and a progress bar."""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import shutil
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download failed for good (after its retries) or its content did not verify."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _offline(url: str, exc: BaseException) -> str | None:
    """Why retrying cannot help (the host name does not resolve, the connection is refused), else None."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name {urllib.parse.urlparse(url).hostname} (offline?)"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    return None


DEFAULT_MAX_BYTES = 64 << 30
"""Largest file the downloader accepts unless told otherwise (the whole AVA is about 32 GB)."""
DEFAULT_DEADLINE = 12 * 3600.0
"""Longest a single file may take, all attempts together, unless told otherwise (seconds)."""

_writing: set[Path] = set()
_writing_lock = threading.Lock()


class _Restart(Exception):
    """The part file cannot be continued (the server's range does not fit it): start over without it."""


class _Fatal(Exception):
    """A failure that no retry can mend (too large, past the deadline, a refused range on a fresh start)."""


def _content_range(value: str | None) -> tuple[int, int | None, int | None] | None:
    """`bytes START-END/TOTAL` -> (START, END, TOTAL); `bytes */TOTAL` -> (-1, None, TOTAL); else None."""
    if not value or not value.startswith("bytes "):
        return None
    span, _, total = value[6:].strip().partition("/")
    try:
        size = None if total.strip() == "*" else int(total)
        if span.strip() == "*":
            return -1, None, size
        first, _, last = span.partition("-")
        return int(first), int(last), size
    except ValueError:
        return None


def _attempt(url: str, part: Path, timeout: float, progress: bool, pace: Callable[[], None] | None,
             max_bytes: int, ends: float) -> None:
    """One request: resume `part` with a Range header where possible and append to it, checking
    that what the server sends starts where the part ends and fits `max_bytes` and the deadline."""
    if pace is not None:
        pace()
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "nima-lab"})
    if have and not url.startswith("file:"):
        request.add_header("Range", f"bytes={have}-")
    left = ends - time.monotonic()
    if left <= 0:
        raise _Fatal("deadline")
    try:
        response = urllib.request.urlopen(request, timeout=min(timeout, left))
    except urllib.error.HTTPError as exc:
        if exc.code != 416:
            raise
        if not have:
            raise _Fatal(f"HTTP 416 {exc.reason} on a request without a range (a broken server)") from None
        span = _content_range(exc.headers.get("Content-Range"))
        if span is not None and span[2] == have:
            return  # the server says the file is exactly what the part holds: it is complete
        raise _Restart(f"HTTP 416 on resuming at byte {have}") from None
    with response:
        status = getattr(response, "status", 200) or 200
        expected_end: int | None = None  # the size the file must reach, where the server says so
        if have and status == 206:
            span = _content_range(response.headers.get("Content-Range"))
            if span is None or span[0] != have:
                raise _Restart(f"asked for bytes from {have}, the server sent "
                               f"{response.headers.get('Content-Range') or 'no Content-Range'}")
            expected_end = span[1] + 1 if span[1] is not None else span[2]
        elif have:
            have = 0  # the server ignored the Range header: start over
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit():
            expected_end = expected_end or have + int(length)
        if expected_end is not None and expected_end > max_bytes:
            raise _Fatal(f"the server announces {expected_end:,} bytes, over the limit of {max_bytes:,}")
        read = getattr(response, "read1", response.read)  # returns what has arrived: the deadline is checked often
        with (
            open(part, "ab" if have else "wb") as out,
            tqdm(
                total=expected_end, initial=have, unit="B", unit_scale=True, desc=part.name[:-5],
                disable=not progress, file=sys.stderr, leave=False,
            ) as bar,
        ):
            size = have
            for block in iter(lambda: read(CHUNK), b""):
                size += len(block)
                if size > max_bytes:
                    raise _Fatal(f"more than {max_bytes:,} bytes (the limit)")
                out.write(block)
                bar.update(len(block))
                if time.monotonic() > ends:
                    raise _Fatal("deadline")
        if expected_end is not None and size < expected_end:
            raise ConnectionError(f"connection closed after {size} of {expected_end} bytes")
        if expected_end is not None and size > expected_end:
            raise _Restart(f"received {size} bytes, more than the {expected_end} announced")


def download_file(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
    pace: Callable[[], None] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline: float = DEFAULT_DEADLINE,
) -> Path:
    """Download `url` to `dest`, resuming an interrupted `dest.part`; skip if `dest` exists.

    Transient failures (connection errors, cut bodies, 5xx, 429) are retried with exponential
    backoff and resume where they stopped; the file appears under its final name only when
    complete (and, if `sha256` is given, verified). A file over `max_bytes`, or not finished
    `deadline` seconds after the first request (an endless or trickling body), fails for good.
    A part file the server's range does not continue is started over. `pace` is called before
    every request. Two downloads into the same `dest` at once are refused.
    """
    dest = Path(dest)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with _writing_lock:
        if part in _writing:
            raise DownloadError(f"{url}: {dest.name} is already being downloaded (from another URL?)")
        _writing.add(part)
    try:
        return _download(url, dest, part, sha256, retries, backoff, timeout, progress, pace, max_bytes, deadline)
    finally:
        with _writing_lock:
            _writing.discard(part)


def _download(url: str, dest: Path, part: Path, sha256: str | None, retries: int, backoff: float, timeout: float,
              progress: bool, pace: Callable[[], None] | None, max_bytes: int, deadline: float) -> Path:
    ends = time.monotonic() + deadline
    last: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            pause = backoff * 2 ** (attempt - 1)
            if time.monotonic() + pause > ends:
                raise DownloadError(f"{url}: not finished within the deadline of {deadline:g} s ({last}); "
                                    f"rerun to resume from {part.stat().st_size if part.exists() else 0} bytes")
            time.sleep(pause)
        try:
            _attempt(url, part, timeout, progress, pace, max_bytes, ends)
            break
        except _Fatal as exc:
            if str(exc) == "deadline":
                have = part.stat().st_size if part.exists() else 0
                raise DownloadError(f"{url}: not finished within the deadline of {deadline:g} s "
                                    f"(too slow or endless); rerun to resume from {have} bytes") from None
            part.unlink(missing_ok=True)
            raise DownloadError(f"{url}: {exc}") from None
        except _Restart as exc:
            last = exc
            part.unlink(missing_ok=True)
        except urllib.error.HTTPError as exc:
            last = exc
            if exc.code < 500 and exc.code != 429:
                raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, http.client.HTTPException) as exc:
            why = _offline(url, exc)
            if why is not None:
                raise DownloadError(f"could not download {url}: {why}") from None
            last = exc
    else:
        raise DownloadError(
            f"could not download {url} after {retries + 1} attempts ({last}); "
            f"rerun to resume from {part.stat().st_size if part.exists() else 0} bytes"
        )
    if sha256 is not None:
        got = sha256_file(part)
        if got != sha256:
            bad = dest.with_name(dest.name + ".rejected")
            shutil.move(part, bad)
            raise DownloadError(f"{url}: checksum mismatch (got {got}, expected {sha256}); kept as {bad}")
    part.replace(dest)
    return dest


class Pacer:
    """Spaces request starts at least `delay` seconds apart across all threads (polite crawling)."""

    def __init__(self, delay: float) -> None:
        self.delay, self._next, self._lock = delay, 0.0, threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self.delay
        if wait > 0:
            time.sleep(wait)


@dataclasses.dataclass
class DownloadJob:
    url: str
    dest: Path
    sha256: str | None = None


@dataclasses.dataclass
class DownloadSummary:
    """What a batch of downloads did: fetched now, already there before, failed (with reasons)."""

    downloaded: list[Path] = dataclasses.field(default_factory=list)
    already_present: list[Path] = dataclasses.field(default_factory=list)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def __str__(self) -> str:
        text = (f"{len(self.downloaded)} downloaded, {len(self.already_present)} already present, "
                f"{len(self.failed)} failed in {self.seconds:.1f} s")
        return text + "".join(f"\n  {url}: {why}" for url, why in list(self.failed.items())[:10])


def download_many(
    jobs: Iterable[DownloadJob],
    workers: int = 4,
    delay: float = 0.0,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline: float = DEFAULT_DEADLINE,
) -> DownloadSummary:
    """Download many files in parallel, each resumable and retried; finished files are never
    fetched again, so an interrupted run continues where it stopped. `delay` spaces the starts of
    all requests (the original AVA host asks for one); `max_bytes` and `deadline` bound each file.
    Failures are collected, not raised; jobs for one file name from different URLs fail but the first."""
    summary = DownloadSummary()
    start = time.monotonic()
    owner: dict[Path, str] = {}
    unique = []
    for job in jobs:  # one job per file: a second URL for the same file name would share its .part
        dest = Path(job.dest)
        if dest not in owner:
            owner[dest] = job.url
            unique.append(job)
        elif owner[dest] != job.url:
            summary.failed[job.url] = f"same file name as {owner[dest]} ({dest.name}): not downloaded"
    jobs = unique
    summary.already_present = [Path(job.dest) for job in jobs if Path(job.dest).exists()]
    pending = [job for job in jobs if not Path(job.dest).exists()]
    pace = Pacer(delay) if delay > 0 else None

    def run(job: DownloadJob) -> Path:
        return download_file(job.url, job.dest, job.sha256, retries, backoff, timeout, progress=False, pace=pace,
                             max_bytes=max_bytes, deadline=deadline)

    with (
        ThreadPoolExecutor(max(1, workers), thread_name_prefix="nima-download") as pool,
        tqdm(total=len(pending), unit="file", desc="download", disable=not progress, file=sys.stderr) as bar,
    ):
        futures = {pool.submit(run, job): job for job in pending}
        for future in as_completed(futures):
            job = futures[future]
            try:
                summary.downloaded.append(future.result())
            except DownloadError as exc:
                summary.failed[job.url] = str(exc)
            except Exception as exc:  # one job's unforeseen failure must not stop the others
                summary.failed[job.url] = f"{type(exc).__name__}: {exc}"
            bar.update(1)
    summary.seconds = time.monotonic() - start
    return summary


def template_jobs(template: str, ids: Iterable[str], dest_dir: str | Path, suffix: str = ".jpg") -> list[DownloadJob]:
    """One job per image id from a URL template such as `https://host/images/{id}.jpg`. Ids name
    files and URLs: a ValueError for one that is not plain (see `ava.is_plain_id`)."""
    from nima_utils.data.ava import check_plain_id

    if "{id}" not in template:
        raise ValueError(f"the URL template must contain {{id}}: {template}")
    dest_dir = Path(dest_dir)
    ids = [check_plain_id(i) for i in ids]
    return [DownloadJob(template.replace("{id}", i), dest_dir / f"{i}{suffix}") for i in ids]
