"""Resumable, verified downloads over HTTP(S) or file:// with retries and a progress bar."""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
import urllib.error
import urllib.request
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


def _attempt(url: str, part: Path, timeout: float, progress: bool) -> None:
    """One request: resume `part` with a Range header where possible and append to it."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "nima-lab"})
    if have and not url.startswith("file:"):
        request.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        status = getattr(response, "status", 200)
        if have and status != 206:
            have = 0  # the server ignored the Range header: start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with (
            open(part, "ab" if have else "wb") as out,
            tqdm(
                total=total, initial=have, unit="B", unit_scale=True, desc=part.name[:-5],
                disable=not progress, file=sys.stderr, leave=False,
            ) as bar,
        ):
            received = 0
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                received += len(block)
                bar.update(len(block))
        if length is not None and received < int(length):
            raise ConnectionError(f"connection closed after {have + received} of {total} bytes")


def download_file(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download `url` to `dest`, resuming an interrupted `dest.part`; skip if `dest` exists.

    Transient failures (connection errors, cut bodies, 5xx, 429) are retried with exponential
    backoff and resume where they stopped; the file appears under its final name only when
    complete (and, if `sha256` is given, verified).
    """
    dest = Path(dest)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _attempt(url, part, timeout, progress)
            break
        except urllib.error.HTTPError as exc:
            last = exc
            if exc.code == 416:  # range beyond the end: the part file is already complete
                break
            if exc.code < 500 and exc.code != 429:
                raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            last = exc
    else:
        raise DownloadError(
            f"could not download {url} after {retries + 1} attempts ({last}); "
            f"rerun to resume from {part.stat().st_size if part.exists() else 0} bytes"
        )
    if sha256 is not None:
        got = sha256_file(part)
        if got != sha256:
            bad = part.with_name(part.name[:-5] + ".rejected")
            shutil.move(part, bad)
            raise DownloadError(f"{url}: checksum mismatch (got {got}, expected {sha256}); kept as {bad}")
    part.replace(dest)
    return dest
