"""Where AVA comes from: the embedded demo, archive mirrors, a per-image URL template, or a
folder you already have. Each source ends as the same local layout: labels, test list, images/."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

import pandas as pd

from nima_utils.data.archives import fetch_archives
from nima_utils.data.ava import read_labels
from nima_utils.data.demo import make_demo_dataset
from nima_utils.data.download import DownloadError, DownloadJob, DownloadSummary, download_many, template_jobs
from nima_utils.params import Parameters

SOURCES = ("demo", "archives", "template", "folder")
SIDE_FILE_MAX_BYTES = 1 << 30
"""AVA.txt is about 16 MB; a label or list file over 1 GiB is not one."""
IMAGE_MAX_BYTES = 64 << 20
"""One AVA photo is at most a few MB; a template download over 64 MiB is refused."""
IMAGE_DEADLINE = 600.0
"""Seconds one photo of a template download may take, all retries together."""


def labels_of_source(source: str) -> str:
    """What a source's labels are, as a model card's `labels` says it: the demo's are synthetic, every
    other source's are AVA-format human votes; an unknown source's are unknown."""
    return "synthetic" if source == "demo" else "human" if source in SOURCES else "unknown"


@dataclasses.dataclass
class AvaFiles:
    """A local AVA-format dataset: label file, official test list (may be absent), images folder."""

    labels: Path
    test_list: Path | None
    images_dir: Path
    downloads: DownloadSummary | None = None
    groups: Path | None = None
    """`groups.csv` (image_id, group): which images share content (the demo's photos), for grouped splits."""


def _find_images_dir(root: Path) -> Path:
    """The folder holding the extracted `<id>.jpg` files (archives nest them differently)."""
    candidates = [root / "images", root]
    candidates += sorted(p for p in root.rglob("*") if p.is_dir())
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*.jpg")):
            return folder
    return root / "images"


def _fetch_side_files(urls: dict[str, str], folder: Path, sha256: dict[str, str], progress: bool) -> DownloadSummary:
    jobs = [DownloadJob(u, folder / name, sha256.get(name)) for name, u in urls.items() if u]
    return download_many(jobs, workers=2, progress=progress, max_bytes=SIDE_FILE_MAX_BYTES, deadline=3600.0)


def fetch_demo(data_dir: str | Path, seed: int = 0, progress: bool = True) -> AvaFiles:
    """Generate the demo source (if needed) and "download" it through the real downloader from
    file:// URLs, with the checksums it publishes, then unpack its archive."""
    data_dir = Path(data_dir)
    source = data_dir / f"demo_source_seed{seed}"  # one folder per seed: files of two seeds never mix
    if not (source / "sources.json").exists():
        make_demo_dataset(source, seed=seed)
    sha = json.loads((source / "sources.json").read_text())["sha256"]
    target = data_dir / f"ava_demo_seed{seed}"
    side = _fetch_side_files({name: (source / name).resolve().as_uri()
                              for name in ("AVA.txt", "generic_test.jpgl", "groups.csv")}, target, sha, progress)
    archives = fetch_archives([(source / "images.zip").resolve().as_uri()], target / "downloads", target,
                              sha256=sha, progress=progress,
                              protect=[target / name for name in ("AVA.txt", "generic_test.jpgl", "groups.csv")])
    return AvaFiles(target / "AVA.txt", target / "generic_test.jpgl", _find_images_dir(target),
                    _merge(side, archives), target / "groups.csv")


def fetch_from_archives(data_dir: str | Path, archive_urls: list[str], labels_url: str, test_list_url: str = "",
                        sha256: dict[str, str] | None = None, progress: bool = True) -> AvaFiles:
    """AVA from archive files (single or multi-part zip/tar/7z) plus the label file and test list."""
    if not archive_urls or not labels_url:
        raise ValueError("source 'archives' needs archive_urls and labels_url")
    target = Path(data_dir) / "ava"
    sha256 = sha256 or {}
    side = _fetch_side_files({"AVA.txt": labels_url, "generic_test.jpgl": test_list_url}, target, sha256, progress)
    archives = fetch_archives(archive_urls, target / "downloads", target, sha256=sha256, progress=progress,
                              protect=[target / "AVA.txt", target / "generic_test.jpgl"])  # the verified side files
    test = target / "generic_test.jpgl"
    return AvaFiles(target / "AVA.txt", test if test.exists() else None, _find_images_dir(target),
                    _merge(side, archives))


def fetch_from_template(data_dir: str | Path, url_template: str, labels_url: str, test_list_url: str = "",
                        delay: float = 1.0, workers: int = 2, limit: int = 0, progress: bool = True) -> AvaFiles:
    """AVA image by image from a URL template (`{id}` is replaced), politely spaced by `delay`."""
    if not labels_url:
        raise ValueError("source 'template' needs labels_url (the AVA.txt to take the ids from)")
    target = Path(data_dir) / "ava"
    side = _fetch_side_files({"AVA.txt": labels_url, "generic_test.jpgl": test_list_url}, target, {}, progress)
    if not (target / "AVA.txt").exists():
        raise DownloadError(f"could not get the label file: {side}")
    ids = list(read_labels(target / "AVA.txt").table["image_id"])
    if limit:
        ids = ids[:limit]
    images = download_many(template_jobs(url_template, ids, target / "images"), workers=workers, delay=delay,
                           progress=progress, max_bytes=IMAGE_MAX_BYTES, deadline=IMAGE_DEADLINE)
    test = target / "generic_test.jpgl"
    return AvaFiles(target / "AVA.txt", test if test.exists() else None, target / "images", _merge(side, images))


def from_folder(local_dir: str | Path) -> AvaFiles:
    """An AVA copy already on disk: `AVA.txt` (or a votes CSV), optional `generic_test.jpgl`
    (also looked for in `aesthetics_image_lists/`), optional `groups.csv` (image_id, group), and the
    images in `images/` or the folder."""
    root = Path(local_dir)
    labels = next((p for p in (root / "AVA.txt", root / "ava_votes.csv") if p.exists()), None)
    if labels is None:
        raise FileNotFoundError(f"{root} has no AVA.txt or ava_votes.csv")
    test = next((p for p in (root / "generic_test.jpgl", root / "aesthetics_image_lists" / "generic_test.jpgl")
                 if p.exists()), None)
    groups = root / "groups.csv"
    return AvaFiles(labels, test, _find_images_dir(root), groups=groups if groups.is_file() else None)


def demo_versions(images_dir: str | Path, seed: int = 0) -> pd.DataFrame | None:
    """What each id of a demo download is (`demo_meta.csv`: photo, perturbation, strength...), found
    beside the images folder that `fetch_demo` returned; None when it is not there (not the demo)."""
    images_dir = Path(images_dir)
    for folder in images_dir.parents[:2]:
        meta = folder / f"demo_source_seed{seed}" / "demo_meta.csv"
        if meta.is_file():
            return pd.read_csv(meta, dtype={"image_id": str})
    return None


def _merge(*summaries: DownloadSummary) -> DownloadSummary:
    out = DownloadSummary()
    for s in summaries:
        out.downloaded += s.downloaded
        out.already_present += s.already_present
        out.failed.update(s.failed)
        out.seconds += s.seconds
    return out


def fetch_source(
    source: str,
    data_dir: str | Path,
    seed: int = 0,
    archive_urls: list[str] | None = None,
    labels_url: str = "",
    test_list_url: str = "",
    url_template: str = "",
    request_delay: float = 1.0,
    local_dir: str = "",
    workers: int = 2,
    limit: int = 0,
    progress: bool = True,
) -> AvaFiles:
    """Get AVA from `source` (demo, archives, template or folder) into `data_dir`."""
    if source == "demo":
        return fetch_demo(data_dir, seed, progress)
    if source == "archives":
        return fetch_from_archives(data_dir, archive_urls or [], labels_url, test_list_url, progress=progress)
    if source == "template":
        return fetch_from_template(data_dir, url_template, labels_url, test_list_url, request_delay, workers, limit,
                                   progress)
    if source == "folder":
        return from_folder(local_dir)
    raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")


SPLIT_SCHEMES = ("official", "paper")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _images_missing(local_dir: Path, limit: int, sample: int = 2000) -> str | None:
    """Why a local AVA copy cannot be used (no labels, most labelled images absent), else None.
    Looks at up to `sample` labelled ids spread over the file (or the first `limit`)."""
    try:
        files = from_folder(local_dir)
    except FileNotFoundError as exc:
        return str(exc)
    ids = list(read_labels(files.labels).table["image_id"])
    ids = ids[:limit] if limit else ids
    if not ids:
        return f"{files.labels} has no usable label lines"
    picked = ids[:: max(1, len(ids) // sample)]
    found = sum((files.images_dir / f"{i}.jpg").is_file() for i in picked)
    if found * 2 < len(picked):
        return (f"only {found} of {len(picked)} labelled images checked are in {files.images_dir} "
                "(expected <id>.jpg in images/ or the folder itself)")
    return None


@dataclasses.dataclass
class DataParameters(Parameters):
    """Notebook 01's parameters (where AVA comes from, how it is split and cached); `data_dir` and
    `report_dir` are where it writes, and need no check."""

    title: ClassVar[str] = "notebook 01 (data) parameters"

    source: str = "demo"
    archive_urls: list[str] | tuple[str, ...] = ()
    labels_url: str = ""
    test_list_url: str = ""
    url_template: str = ""
    request_delay: float = 1.0
    local_dir: str = ""
    split_scheme: str = "official"
    val_share: float = 0.1
    seed: int = 0
    workers: int = 2
    limit: int = 0
    cache_size: int = 256
    group_split: bool = True

    def setting_problems(self) -> list[str]:
        """Every problem with the parameters, as sentences (empty: all good). A `local_dir` is looked
        into here (its labels and images must be there): it is data the user brings, not notebook 01's."""
        source, archive_urls, labels_url, url_template = (self.source, self.archive_urls, self.labels_url,
                                                          self.url_template)
        request_delay, local_dir, split_scheme, val_share = (self.request_delay, self.local_dir, self.split_scheme,
                                                             self.val_share)
        seed, workers, limit, cache_size = self.seed, self.workers, self.limit, self.cache_size
        problems: list[str] = []
        if source not in SOURCES:
            problems.append(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
        if split_scheme not in SPLIT_SCHEMES:
            problems.append(f"split_scheme must be one of {', '.join(SPLIT_SCHEMES)}, got {split_scheme!r}")
        if isinstance(val_share, bool) or not isinstance(val_share, int | float) or not 0 < val_share < 1:
            problems.append(f"val_share must be a number strictly between 0 and 1, got {val_share!r}")
        for name, value, low in (("seed", seed, 0), ("limit", limit, 0), ("workers", workers, 1)):
            if not _is_int(value) or value < low:
                problems.append(f"{name} must be an integer >= {low}, got {value!r}")
        if not _is_int(cache_size) or not 32 <= cache_size <= 2048:
            problems.append(f"cache_size must be an integer from 32 to 2048, got {cache_size!r}")
        if not isinstance(self.group_split, bool):
            problems.append(f"group_split must be true or false, got {self.group_split!r}")
        if isinstance(request_delay, bool) or not isinstance(request_delay, int | float) or request_delay < 0:
            problems.append(f"request_delay must be a number of seconds >= 0, got {request_delay!r}")
        if source == "archives":
            if not isinstance(archive_urls, list | tuple) or not archive_urls or \
                    not all(isinstance(u, str) and u for u in archive_urls):
                problems.append(f"source 'archives' needs archive_urls, a list of URLs, got {archive_urls!r}")
            if not labels_url:
                problems.append("source 'archives' needs labels_url (where AVA.txt is)")
        if source == "template":
            if not isinstance(url_template, str) or "{id}" not in url_template:
                problems.append(f"source 'template' needs url_template with {{id}} in it, got {url_template!r}")
            if not labels_url:
                problems.append("source 'template' needs labels_url (the AVA.txt to take the ids from)")
        if source == "folder":
            if not local_dir:
                problems.append("source 'folder' needs local_dir (a folder with AVA.txt and images/)")
            elif not Path(local_dir).is_dir():
                problems.append(f"local_dir {local_dir} is not a folder")
            elif not problems:  # reading the labels is the slow check: only when all else is right
                why = _images_missing(Path(local_dir), limit)
                if why:
                    problems.append(f"local_dir: {why}")
        return problems

def check_parameters(source: str, archive_urls: object = (), labels_url: str = "", test_list_url: str = "",
                     url_template: str = "", request_delay: float = 1.0, local_dir: str = "",
                     split_scheme: str = "official", val_share: float = 0.1, seed: int = 0, workers: int = 2,
                     limit: int = 0, cache_size: int = 256, group_split: bool = True) -> None:
    """Validate notebook 01's parameters before any download or work: one `ParameterError` (a ValueError)
    naming every problem and what to pass instead."""
    DataParameters(source, archive_urls, labels_url, test_list_url, url_template, request_delay,  # type: ignore[arg-type]
                   local_dir, split_scheme, val_share, seed, workers, limit, cache_size, group_split).check()
