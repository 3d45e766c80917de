"""Verify every labelled image and quarantine the unusable ones. Originals are only ever read."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from nima_utils.data.ava import check_plain_id, is_plain_id
from nima_utils.images import DEFAULT_MAX_PIXELS, MIN_SIDE, ImageLoadError, decode_image

KNOWN_CORRUPT_AVA = ("440774", "179118", "371434", "277832", "230701", "729377")
"""AVA images known to be corrupt in the distributed archives (reported by the community)."""
__all__ = ["KNOWN_CORRUPT_AVA", "MIN_SIDE", "CleanupResult", "check_image", "clean_labels", "image_path"]

REASONS = {
    "missing": "missing",
    "empty": "empty",
    "not_image": "not an image",
    "unsupported": "not an image",
    "too_large": "decompression bomb",
    "too_small": "too small",
}


def check_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[str, str] | None:
    """None if `path` decodes fully into a usable photo, else (reason, detail)."""
    try:
        decode_image(path, max_pixels)  # refuses sides under MIN_SIDE too, as scoring does
    except ImageLoadError as exc:
        detail = str(exc)
        if exc.kind in REASONS:
            return REASONS[exc.kind], detail
        return ("truncated" if "truncated" in detail else "unreadable"), detail
    return None


def _check_many(paths: list[str], max_pixels: int) -> list[tuple[str, str] | None]:
    return [check_image(p, max_pixels) for p in paths]


@dataclasses.dataclass
class CleanupResult:
    """The usable labels, the quarantine report (image_id, path, reason, detail), and the speed."""

    clean: pd.DataFrame
    quarantine: pd.DataFrame
    seconds: float

    @property
    def images_per_s(self) -> float:
        checked = len(self.clean) + int((self.quarantine["reason"] != "known corrupt").sum())
        return checked / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> dict[str, float | int | dict[str, int]]:
        return {
            "checked": len(self.clean) + len(self.quarantine),
            "clean": len(self.clean),
            "quarantined": len(self.quarantine),
            "reasons": {str(k): int(v) for k, v in self.quarantine["reason"].value_counts().items()},
            "seconds": round(self.seconds, 3),
            "images_per_s": round(self.images_per_s, 1),
        }


def image_path(images_dir: str | Path, image_id: str, suffix: str = ".jpg") -> Path:
    """`<images_dir>/<id>.jpg`; a ValueError for an id that is not plain (it could name another file)."""
    return Path(images_dir) / f"{check_plain_id(image_id)}{suffix}"


def clean_labels(
    table: pd.DataFrame,
    images_dir: str | Path,
    workers: int | None = None,
    known_corrupt: tuple[str, ...] = KNOWN_CORRUPT_AVA,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    chunk: int = 64,
    progress: bool = True,
) -> CleanupResult:
    """Decode every labelled image fully, in `workers` threads, and split the table into clean
    rows and a quarantine report: missing, empty, truncated, not an image, unreadable, too small,
    decompression bomb, known corrupt, or an id that is not plain (never opened). No file is modified,
    moved or deleted."""
    start = time.monotonic()
    ids = [str(i) for i in table["image_id"]]
    known = set(known_corrupt)
    odd = [i for i in ids if not is_plain_id(i)]
    todo = [i for i in ids if i not in known and is_plain_id(i)]
    paths = [str(image_path(images_dir, i)) for i in todo]
    chunks = [paths[k : k + chunk] for k in range(0, len(paths), chunk)]
    workers = workers or os.cpu_count() or 1
    verdicts: list[tuple[str, str] | None] = []
    bar = tqdm(total=len(paths), unit="img", desc="verify", disable=not progress, file=sys.stderr)
    # Threads suffice: Pillow releases the GIL while decoding (measured: 1.8x with 2 threads on 2 cores).
    with ThreadPoolExecutor(workers, thread_name_prefix="nima-verify") as pool:
        for c, result in zip(chunks, pool.map(_check_many, chunks, [max_pixels] * len(chunks)), strict=True):
            verdicts.extend(result)
            bar.update(len(c))
    bar.close()
    rows = [(i, "", "bad id", "not a plain id (letters, digits, '_' and '-'): not used as a file name")
            for i in odd]
    rows += [(i, str(image_path(images_dir, i)), "known corrupt", "listed as corrupt in AVA")
             for i in ids if i in known and is_plain_id(i)]
    rows += [(i, p, v[0], v[1]) for i, p, v in zip(todo, paths, verdicts, strict=True) if v is not None]
    quarantine = pd.DataFrame(rows, columns=["image_id", "path", "reason", "detail"])
    bad = set(quarantine["image_id"])
    clean = table[[str(i) not in bad for i in table["image_id"]]]
    return CleanupResult(clean, quarantine, time.monotonic() - start)
