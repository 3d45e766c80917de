"""The embedded demo dataset: a small AVA-format dataset built offline from real photographs.

The photographs are real (scikit-image's sample images); the **labels are synthetic**. Each
photo appears unchanged and with controlled perturbations (contrast, brightness, blur, noise,
JPEG quality, saturation) at four strengths. Its vote counts are drawn around a quality that
falls with the strength of the perturbation: the labels encode "how degraded is this version
of the photo", not human taste. A few deliberately broken files give cleanup something real
to catch. Everything is deterministic given the seed.
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
from PIL import Image, ImageEnhance, ImageFilter

from nima_utils.data.sample_images import sample_photos

FIRST_ID = 1_000_001
"""Demo ids start above every real AVA id, so they can never be confused with AVA images."""
BASE_QUALITY = 6.2
VOTE_SPREAD = 1.4


def _contrast(img: Image.Image, f: float) -> Image.Image:
    return ImageEnhance.Contrast(img).enhance(f)


def _brightness(img: Image.Image, f: float) -> Image.Image:
    return ImageEnhance.Brightness(img).enhance(f)


def _saturation(img: Image.Image, f: float) -> Image.Image:
    return ImageEnhance.Color(img).enhance(f)


def _blur(img: Image.Image, radius: float) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius))


def _noise(img: Image.Image, sigma: float, rng: np.random.Generator) -> Image.Image:
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, sigma, (img.height, img.width, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


PERTURBATIONS: dict[str, tuple[float, list[tuple[float, float]]]] = {
    # name: (quality lost at full strength, [(parameter, strength 0..1), ...])
    "contrast": (2.5, [(0.6, 0.25), (0.35, 0.5), (1.8, 0.5), (0.15, 1.0)]),
    "brightness": (2.5, [(0.7, 0.25), (1.4, 0.35), (0.4, 0.6), (2.2, 1.0)]),
    "blur": (3.0, [(1.0, 0.25), (2.0, 0.5), (4.0, 0.75), (8.0, 1.0)]),
    "noise": (3.0, [(8.0, 0.25), (16.0, 0.5), (32.0, 0.75), (64.0, 1.0)]),
    "jpeg": (2.5, [(40, 0.25), (20, 0.5), (10, 0.75), (3, 1.0)]),
    "saturation": (1.5, [(0.5, 0.25), (1.8, 0.5), (0.0, 0.75), (3.0, 1.0)]),
}
"""Perturbations and their levels; the last level of each is the strongest."""

BROKEN = {
    "truncated": "a JPEG cut to a third of its bytes",
    "not_an_image": "a text file named .jpg",
    "empty": "a file of zero bytes",
    "too_small": "an 8x8 pixel JPEG",
    "missing": "labelled, but absent from the archive",
}


def perturb(img: Image.Image, kind: str, param: float, rng: np.random.Generator) -> Image.Image:
    """Apply one perturbation with its parameter (factor, radius, sigma or JPEG quality)."""
    if kind == "noise":
        return _noise(img, param, rng)
    functions = {"contrast": _contrast, "brightness": _brightness, "saturation": _saturation, "blur": _blur,
                 "jpeg": lambda im, q: _jpeg(im, int(q))}
    if kind not in functions:
        raise ValueError(f"unknown perturbation {kind!r}; available: {', '.join(PERTURBATIONS)}")
    return functions[kind](img, param)


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


def _jpeg_bytes(img: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def make_demo_dataset(folder: str | Path, seed: int = 0, max_side: int = 320, test_photos: int = 3) -> DemoDataset:
    """Write `AVA.txt`, `generic_test.jpgl`, `images.zip` (images/<id>.jpg), `demo_meta.csv` (what
    each id is) and `sources.json` (file names and SHA-256, like a mirror's checksums) to `folder`.

    The test list holds every version of `test_photos` whole photographs, so no photo's content
    is shared between the official test set and training.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = sample_photos()
    offsets = rng.normal(0, 0.4, len(photos))
    test_names = {p.stem for p in sorted(photos, key=lambda p: rng.random())[:test_photos]}
    files: dict[str, bytes] = {}
    rows, meta = [], []
    next_id = FIRST_ID

    def add(image_id: int, data: bytes | None, quality: float, info: dict) -> None:
        counts = draw_votes(quality, rng, int(rng.integers(120, 261)))
        rows.append([len(rows) + 1, image_id, *counts.tolist(), 0, 0, 0])
        meta.append({"image_id": str(image_id), "target_quality": round(quality, 3), **info})
        if data is not None:
            files[f"images/{image_id}.jpg"] = data

    for photo, offset in zip(photos, offsets, strict=True):
        img = Image.open(photo).convert("RGB")
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        base = BASE_QUALITY + offset
        add(next_id, _jpeg_bytes(img), base, {"photo": photo.stem, "perturbation": "none", "param": 0.0,
                                              "strength": 0.0})
        next_id += 1
        arr = np.asarray(img, dtype=np.int16)
        gray = not np.abs(arr - arr[..., :1]).any()
        for kind, (loss, levels) in PERTURBATIONS.items():
            if kind == "saturation" and gray:
                continue  # saturation does nothing to a grayscale photo: no label for a non-change
            for param, strength in levels:
                version = perturb(img, kind, param, rng)
                add(next_id, _jpeg_bytes(version), base - loss * strength,
                    {"photo": photo.stem, "perturbation": kind, "param": float(param), "strength": strength})
                next_id += 1

    good = Image.open(photos[0]).convert("RGB")
    good.thumbnail((max_side, max_side))
    full = _jpeg_bytes(good)
    broken = {"truncated": full[: len(full) // 3], "not_an_image": b"this is not a photograph\n", "empty": b"",
              "too_small": _jpeg_bytes(good.resize((8, 8))), "missing": None}
    for kind, data in broken.items():
        add(next_id, data, BASE_QUALITY, {"photo": "broken", "perturbation": kind, "param": 0.0, "strength": 0.0})
        next_id += 1

    ds = DemoDataset(folder, folder / "AVA.txt", folder / "generic_test.jpgl", folder / "images.zip",
                     folder / "demo_meta.csv", folder / "sources.json")
    ds.ava_txt.write_text("".join(" ".join(map(str, r)) + "\n" for r in rows))
    meta_df = pd.DataFrame(meta)
    meta_df["split_hint"] = np.where(meta_df["photo"].isin(test_names), "test", "")
    meta_df.to_csv(ds.meta, index=False)
    ds.test_list.write_text("".join(f"{i}\n" for i in meta_df.loc[meta_df["split_hint"] == "test", "image_id"]))
    with zipfile.ZipFile(ds.archive, "w", zipfile.ZIP_STORED) as z:
        for name in sorted(files):
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), files[name])
    checksums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ds.ava_txt, ds.test_list, ds.archive)}
    ds.sources.write_text(json.dumps({"seed": seed, "sha256": checksums}, indent=2) + "\n")
    return ds
