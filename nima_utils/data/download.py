"""Resumable, verified downloads over HTTP(S) or file:// with retries and a progress bar."""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import lzma
import shutil
import socket
import stat
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
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


def _url_name(url: str) -> str:
    name = Path(urllib.parse.urlparse(url).path).name
    if not name:
        raise ValueError(f"cannot tell a file name from the URL {url}")
    return name


def _part_base(name: str) -> str | None:
    """`x.7z.001` -> `x.7z` for numbered parts of a multi-part archive, else None."""
    stem, dot, number = name.rpartition(".")
    return stem if dot and number.isdigit() and len(number) >= 3 else None


DEFAULT_MAX_UNPACKED = 64 << 30
"""Most an archive may unpack to, in bytes, unless told otherwise (AVA's JPEGs are about 32 GB)."""
DEFAULT_MAX_RATIO = 100.0
"""Highest unpacked/packed size ratio, of an archive and of any member over 1 MiB (JPEGs: about 1)."""
_RATIO_FLOOR = 1 << 20


class ArchiveError(DownloadError):
    """An archive refused (links, devices, paths outside, protected files, too large) or damaged."""


@dataclasses.dataclass(frozen=True)
class _Member:
    name: str  # the path inside the target folder, "/"-separated, never empty
    is_dir: bool
    size: int
    packed: int | None  # compressed size, where the format tells


def _relative(name: str, where: str) -> str:
    """A member's path inside the target folder, or "" for the folder itself; refuses escapes."""
    text = name.replace("\\", "/")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if text.startswith("/") or ".." in parts or (parts and ":" in parts[0]) or "\0" in text:
        raise ArchiveError(f"{where}: refusing to extract {name!r} outside the target folder")
    return "/".join(parts)


def _zip_members(z: zipfile.ZipFile, where: str) -> list[_Member]:
    out = []
    for info in z.infolist():
        name = _relative(info.filename, where)
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 where the writer recorded no Unix file type
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            raise ArchiveError(f"{where}: refusing {info.filename!r}: a link, device or other special member")
        out.append(_Member(name, info.is_dir(), info.file_size, info.compress_size))
    return out


def _tar_members(t: tarfile.TarFile, where: str) -> list[_Member]:
    out = []
    for m in t.getmembers():
        name = _relative(m.name, where)
        if not (m.isreg() or m.isdir()):
            raise ArchiveError(f"{where}: refusing {m.name!r}: a link, device or other special member")
        out.append(_Member(name, m.isdir(), m.size if m.isreg() else 0, None))
    return out


def _7z_members(z, where: str) -> list[_Member]:
    out = []
    for info in z.list():
        name = _relative(info.filename, where)
        if not (info.is_directory or (info.is_file and not info.is_symlink)):
            raise ArchiveError(f"{where}: refusing {info.filename!r}: a link, device or other special member")
        out.append(_Member(name, info.is_directory, info.uncompressed or 0, None))
    return out


class _Unpacker:
    """Writes members as plain files under `dest` only: each through a temporary name, renamed when
    complete; never through a link; never over a protected path; within the size cap."""

    def __init__(self, archive: Path, dest: Path, protect: Iterable[Path], max_unpacked: int) -> None:
        self.archive, self.dest, self.max_unpacked = archive, dest.resolve(), max_unpacked
        self.protect = [Path(p).resolve() for p in protect]
        self.written, self.created = 0, []

    def target(self, name: str) -> Path:
        path, parts = self.dest / name, Path(name).parts
        for folder in (self.dest.joinpath(*parts[:k]) for k in range(1, len(parts) + 1)):
            if folder.is_symlink():
                raise ArchiveError(f"{self.archive.name}: refusing {name!r}: {folder} is a link")
        if any(path == p or p in path.parents for p in self.protect):
            raise ArchiveError(f"{self.archive.name}: refusing {name!r}: it would replace {path}, which is protected")
        return path

    def check(self, members: list[_Member], max_ratio: float) -> None:
        total = sum(m.size for m in members)
        packed = max(self.archive.stat().st_size, 1)
        if total > self.max_unpacked:
            raise ArchiveError(f"{self.archive.name}: would unpack to {total:,} bytes, over the limit of "
                               f"{self.max_unpacked:,} (max_unpacked)")
        if total > _RATIO_FLOOR and total / packed > max_ratio:
            raise ArchiveError(f"{self.archive.name}: unpacks {total / packed:,.0f}x its size, over the limit of "
                               f"{max_ratio:g}x (a zip bomb?)")
        for m in members:
            if m.packed is not None and m.size > _RATIO_FLOOR and m.size / max(m.packed, 1) > max_ratio:
                raise ArchiveError(f"{self.archive.name}: {m.name!r} unpacks {m.size / max(m.packed, 1):,.0f}x its "
                                   f"size, over the limit of {max_ratio:g}x (a zip bomb?)")
            self.target(m.name)

    def open(self, name: str):
        path = self.target(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".unpacking")
        return path, tmp, open(tmp, "wb")

    def count(self, n: int) -> None:
        self.written += n
        if self.written > self.max_unpacked:
            raise ArchiveError(f"{self.archive.name}: unpacked more than {self.max_unpacked:,} bytes (max_unpacked)")

    def finish(self, path: Path, tmp: Path) -> None:
        if not path.exists():
            self.created.append(path)
        tmp.replace(path)

    def copy(self, name: str, source) -> None:
        path, tmp, out = self.open(name)
        try:
            with out:
                for block in iter(lambda: source.read(CHUNK), b""):
                    self.count(len(block))
                    out.write(block)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.finish(path, tmp)

    def undo(self) -> None:
        """Remove the files this unpacking created (a failed archive leaves nothing half-written)."""
        for path in self.created:
            path.unlink(missing_ok=True)
        for tmp in self.dest.rglob("*.unpacking"):
            tmp.unlink(missing_ok=True)


def _unpack_7z(archive: Path, unpacker: _Unpacker, max_ratio: float) -> None:
    import py7zr
    from py7zr.io import Py7zIO, WriterFactory

    with py7zr.SevenZipFile(archive) as z:
        unpacker.check(_7z_members(z, archive.name), max_ratio)

    class Sink(Py7zIO):
        def __init__(self, name: str) -> None:
            self.path, self.tmp, self.out = unpacker.open(name)
            self.n = 0

        def write(self, s: bytes | bytearray) -> int:
            unpacker.count(len(s))
            self.n += len(s)
            return self.out.write(s)

        def read(self, size: int | None = None) -> bytes:
            return b""

        def seek(self, offset: int, whence: int = 0) -> int:
            return self.n

        def flush(self) -> None:
            self.out.flush()

        def size(self) -> int:
            return self.n

        def close(self) -> None:  # py7zr calls it when the member is complete
            self.out.close()
            unpacker.finish(self.path, self.tmp)

    class Factory(WriterFactory):
        def create(self, filename: str) -> Py7zIO:
            return Sink(Path(filename).relative_to(unpacker.dest).as_posix())

    with py7zr.SevenZipFile(archive) as z:
        for m in _7z_members(z, archive.name):
            if m.is_dir:
                unpacker.target(m.name).mkdir(parents=True, exist_ok=True)
        z.extractall(path=unpacker.dest, factory=Factory())


def extract(archive: str | Path, dest: str | Path, protect: Iterable[str | Path] = (),
            max_unpacked: int = DEFAULT_MAX_UNPACKED, max_ratio: float = DEFAULT_MAX_RATIO) -> None:
    """Unpack a zip, tar(.gz/.bz2/.xz) or 7z archive into `dest`, as plain files and folders only.

    Refused before anything is written (ArchiveError): links, devices and other special members,
    paths outside `dest`, members that would replace a `protect`ed path, more than `max_unpacked`
    bytes, or more than `max_ratio` times the archive's size (a zip bomb). A damaged archive (bad
    CRC, truncated) raises ArchiveError too, and the files this call created are removed.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    name = archive.name.lower()
    unpacker = _Unpacker(archive, dest, protect, max_unpacked)
    import py7zr.exceptions

    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                members = _zip_members(z, archive.name)
                unpacker.check(members, max_ratio)
                for info, m in zip(z.infolist(), members, strict=True):
                    if m.is_dir:
                        unpacker.target(m.name).mkdir(parents=True, exist_ok=True)
                    elif m.name:
                        with z.open(info) as source:
                            unpacker.copy(m.name, source)
        elif name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
            with tarfile.open(archive) as t:
                unpacker.check(_tar_members(t, archive.name), max_ratio)
            with tarfile.open(archive, "r|*") as t:  # a second, sequential pass: no seeking back in .gz
                for m in t:
                    rel = _relative(m.name, archive.name)
                    if m.isdir():
                        unpacker.target(rel).mkdir(parents=True, exist_ok=True)
                    elif m.isreg() and rel:
                        unpacker.copy(rel, t.extractfile(m))
                    else:
                        raise ArchiveError(f"{archive.name}: refusing {m.name!r}: a link, device or other special "
                                           "member")
        elif name.endswith(".7z"):
            _unpack_7z(archive, unpacker, max_ratio)
        else:
            raise ArchiveError(f"{archive.name}: unknown archive type (zip, tar, tar.gz, tar.bz2, tar.xz, 7z)")
    except ArchiveError:
        unpacker.undo()
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, OSError, zlib.error,
            lzma.LZMAError, py7zr.exceptions.ArchiveError, py7zr.exceptions.PasswordRequired, ValueError) as exc:
        unpacker.undo()
        raise ArchiveError(f"{archive.name}: damaged or unreadable archive ({type(exc).__name__}: {exc})") from None


def fetch_archives(
    urls: list[str],
    download_dir: str | Path,
    extract_dir: str | Path,
    sha256: dict[str, str] | None = None,
    workers: int = 4,
    progress: bool = True,
    protect: Iterable[str | Path] = (),
    max_unpacked: int = DEFAULT_MAX_UNPACKED,
    max_ratio: float = DEFAULT_MAX_RATIO,
) -> DownloadSummary:
    """Download archives (single or numbered multi-part: `x.7z.001`, `x.7z.002`, ...), join parts,
    and unpack each archive once into `extract_dir` (a marker file records it). Checksums, keyed
    by file name, are checked where the source publishes them. Unpacking follows `extract`'s rules;
    the downloads, the markers and the `protect`ed paths are never replaced. An archive refused or
    damaged is a failure in the summary, not an exception."""
    download_dir, extract_dir = Path(download_dir), Path(extract_dir)
    sha256 = sha256 or {}
    jobs = [DownloadJob(u, download_dir / _url_name(u), sha256.get(_url_name(u))) for u in urls]
    summary = download_many(jobs, workers=workers, progress=progress)
    if not summary.ok:
        return summary
    groups: dict[str, list[Path]] = {}
    for job in jobs:
        base = _part_base(job.dest.name)
        groups.setdefault(base or job.dest.name, []).append(job.dest)
    for base, parts in groups.items():
        marker = extract_dir / f".{base}.extracted"
        if marker.exists():
            continue
        archive = download_dir / base
        if len(parts) > 1 or parts[0].name != base:
            tmp = archive.with_name(archive.name + ".joining")
            with open(tmp, "wb") as out:
                for part in sorted(parts, key=lambda p: int(p.name.rpartition(".")[2])):
                    with open(part, "rb") as f:
                        shutil.copyfileobj(f, out, CHUNK)
            tmp.replace(archive)
        guarded = [*protect, download_dir, *(extract_dir / f".{b}.extracted" for b in groups)]
        try:
            extract(archive, extract_dir, guarded, max_unpacked, max_ratio)
        except ArchiveError as exc:
            summary.failed[base] = f"could not unpack: {exc}"
            continue
        marker.write_text("ok\n")
    return summary
