"""Archives: numbered multi-part downloads joined, zip/tar/7z unpacked once and safely (no links,
devices or paths outside, protected files kept, bounded size and compression ratio)."""

from __future__ import annotations

import dataclasses
import lzma
import shutil
import stat
import tarfile
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from nima_utils.data.download import CHUNK, DownloadError, DownloadJob, DownloadSummary, download_many


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
