"""The embedded demo dataset: a small AVA-format dataset built offline from real photographs.

The photographs are real (`sample_images`: scikit-image's and matplotlib's); the **labels are
synthetic**. Each photo gives several sources (the whole frame and crops at other positions and
scales), and each source appears unchanged and edited by `nima_utils.study.perturbations`
(contrast, brightness, blur, noise, JPEG quality, saturation) at two of four strengths. Vote counts
are drawn around a quality that falls with the strength of the edit: the labels encode "how
degraded is this version of the photo", not human taste. Every image carries its photo as its
`group`, so splits can keep a photo's content together; the test photos follow a rule fixed in
advance (`held_out_photos`). A few deliberately broken files give cleanup something real to catch.
Everything is deterministic given the seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from nima_utils.data.sample_images import kind, sample_photos
from nima_utils.study.perturbations import get as perturbation

FIRST_ID = 1_000_001
"""Demo ids start above every real AVA id, so they can never be confused with AVA images."""
BASE_QUALITY = 6.2
VOTE_SPREAD = 1.4
PHOTO_SPREAD = 0.4
"""Standard deviation of a photo's own quality around BASE_QUALITY (shared by all its sources)."""
CROPS = 3
"""Sources per photo: the whole frame and CROPS - 1 crops of 45-75% of each side at random positions."""
LEVELS_PER_EDIT = 2
"""Each source gets this many of the four strengths of each edit, drawn by the seed."""

LEVELS: dict[str, tuple[float, list[tuple[float, float]]]] = {
    # perturbation: (quality lost at full strength, [(factor, strength 0..1), ...])
    "contrast": (2.5, [(0.6, 0.25), (0.35, 0.5), (1.8, 0.5), (0.15, 1.0)]),
    "brightness": (2.5, [(0.7, 0.25), (1.4, 0.35), (0.4, 0.6), (2.2, 1.0)]),
    "blur": (3.0, [(1.0, 0.25), (2.0, 0.5), (4.0, 0.75), (8.0, 1.0)]),
    "noise": (3.0, [(8.0, 0.25), (16.0, 0.5), (32.0, 0.75), (64.0, 1.0)]),
    "jpeg": (2.5, [(40, 0.25), (20, 0.5), (10, 0.75), (3, 1.0)]),
    "saturation": (1.5, [(0.5, 0.25), (1.8, 0.5), (0.0, 0.75), (3.0, 1.0)]),
}
"""The edits of the demo and their levels (factors of `nima_utils.study.perturbations`); the last is the strongest."""

BROKEN = {
    "truncated": "a JPEG cut to a third of its bytes",
    "not_an_image": "a text file named .jpg",
    "empty": "a file of zero bytes",
    "too_small": "an 8x8 pixel JPEG",
    "missing": "labelled, but absent from the archive",
}


def draw_votes(quality: float, rng: np.random.Generator, n_votes: int) -> np.ndarray:
    """Vote counts for ratings 1..10 drawn from a normal around `quality`, discretized."""
    edges = np.arange(0.5, 11.5)
    from scipy.stats import norm

    cdf = norm.cdf(edges, loc=quality, scale=VOTE_SPREAD)
    p = np.diff(cdf)
    p[0] += cdf[0]
    p[-1] += 1 - cdf[-1]
    return rng.multinomial(n_votes, p / p.sum())


@dataclasses.dataclass
class DemoDataset:
    """Paths of a generated demo dataset, laid out like an AVA download source."""

    folder: Path
    ava_txt: Path
    test_list: Path
    archive: Path
    meta: Path
    sources: Path
    groups: Path


def _jpeg_bytes(img: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def is_grey(img: Image.Image) -> bool:
    """True when every pixel has equal red, green and blue (saturation cannot act on it)."""
    arr = np.asarray(img.convert("RGB"), dtype=np.int16)
    return not np.abs(arr - arr[..., :1]).any()


def held_out_photos(photos: list[Path], seed: int = 0) -> list[str]:
    """The rule for the test photos, fixed before any result: one photo of each kind of content
    present (colour scene, greyscale scene, greyscale texture; a colour texture if there were one),
    drawn by the seed from its own random stream, so the label draws never change it."""
    strata: dict[tuple[str, bool], list[str]] = {}
    for photo in photos:
        with Image.open(photo) as img:
            strata.setdefault((kind(photo), is_grey(img)), []).append(photo.stem)
    rng = np.random.default_rng([seed, 13])
    return sorted(sorted(names)[rng.integers(len(names))] for _, names in sorted(strata.items()))


def photo_sources(img: Image.Image, rng: np.random.Generator, max_side: int, crops: int = CROPS,
                  ) -> list[tuple[str, Image.Image]]:
    """The whole frame and `crops - 1` crops (45-75% of each side, at random positions), each at most
    `max_side` px, with its box ("left,top,right,bottom" in the original's pixels)."""
    boxes = [(0, 0, img.width, img.height)]
    for _ in range(crops - 1):
        w, h = (round(side * rng.uniform(0.45, 0.75)) for side in img.size)
        left, top = int(rng.integers(0, img.width - w + 1)), int(rng.integers(0, img.height - h + 1))
        boxes.append((left, top, left + w, top + h))
    out = []
    for box in boxes:
        part = img.crop(box)
        part.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out.append((",".join(map(str, box)), part))
    return out


def make_demo_dataset(folder: str | Path, seed: int = 0, max_side: int = 320, crops: int = CROPS) -> DemoDataset:
    """Write `AVA.txt`, `generic_test.jpgl`, `images.zip` (images/<id>.jpg), `groups.csv` (image_id,
    group: the photo), `demo_meta.csv` (what each id is) and `sources.json` (file names and SHA-256,
    like a mirror's checksums) to `folder`.

    The test list holds every version of every source of the photos `held_out_photos` names, so no
    photo's content is shared between the official test set and training.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = sample_photos()
    offsets = rng.normal(0, PHOTO_SPREAD, len(photos))
    test_names = set(held_out_photos(photos, seed))
    files: dict[str, bytes] = {}
    rows, meta = [], []

    def add(data: bytes | None, quality: float, info: dict) -> None:
        image_id = FIRST_ID + len(rows)
        counts = draw_votes(quality, rng, int(rng.integers(120, 261)))
        rows.append([len(rows) + 1, image_id, *counts.tolist(), 0, 0, 0])
        meta.append({"image_id": str(image_id), "target_quality": round(quality, 3), **info})
        if data is not None:
            files[f"images/{image_id}.jpg"] = data

    for photo, offset in zip(photos, offsets, strict=True):
        img = Image.open(photo).convert("RGB")
        grey = is_grey(img)
        base = BASE_QUALITY + offset
        about = {"photo": photo.stem, "group": photo.stem, "kind": kind(photo), "colour": "grey" if grey else "colour"}
        for number, (box, source) in enumerate(photo_sources(img, rng, max_side, crops)):
            at = {**about, "source": f"{photo.stem}/{number}", "box": box}
            add(_jpeg_bytes(source), base, {**at, "perturbation": "none", "param": 0.0, "strength": 0.0})
            for name, (loss, levels) in LEVELS.items():
                if name == "saturation" and grey:
                    continue  # saturation does nothing to a greyscale photo: no label for a non-change
                for i in sorted(rng.choice(len(levels), LEVELS_PER_EDIT, replace=False)):
                    factor, strength = levels[i]
                    version = perturbation(name)(source, factor, seed=int(rng.integers(2**31)))
                    add(_jpeg_bytes(version), base - loss * strength,
                        {**at, "perturbation": name, "param": float(factor), "strength": strength})

    good = Image.open(photos[0]).convert("RGB")
    good.thumbnail((max_side, max_side))
    full = _jpeg_bytes(good)
    broken = {"truncated": full[: len(full) // 3], "not_an_image": b"this is not a photograph\n", "empty": b"",
              "too_small": _jpeg_bytes(good.resize((8, 8))), "missing": None}
    for name, data in broken.items():
        add(data, BASE_QUALITY, {"photo": "broken", "group": "broken", "perturbation": name, "param": 0.0,
                                 "strength": 0.0})

    ds = DemoDataset(folder, folder / "AVA.txt", folder / "generic_test.jpgl", folder / "images.zip",
                     folder / "demo_meta.csv", folder / "sources.json", folder / "groups.csv")
    ds.ava_txt.write_text("".join(" ".join(map(str, r)) + "\n" for r in rows))
    meta_df = pd.DataFrame(meta)
    meta_df["split_hint"] = np.where(meta_df["photo"].isin(test_names), "test", "")
    meta_df.to_csv(ds.meta, index=False)
    meta_df[["image_id", "group"]].to_csv(ds.groups, index=False)
    ds.test_list.write_text("".join(f"{i}\n" for i in meta_df.loc[meta_df["split_hint"] == "test", "image_id"]))
    with zipfile.ZipFile(ds.archive, "w", zipfile.ZIP_STORED) as z:
        for name in sorted(files):
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), files[name])
    published = (ds.ava_txt, ds.test_list, ds.archive, ds.groups)
    checksums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in published}
    ds.sources.write_text(json.dumps({"seed": seed, "sha256": checksums}, indent=2) + "\n")
    return ds
