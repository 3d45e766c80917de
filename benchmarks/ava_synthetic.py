"""An AVA-shaped dataset made offline: the full-size label file (255,530 rows in AVA.txt's format),
the official test list, and N JPEGs of AVA-like sizes (500x375 to 800x600) cut from the real photos
scikit-image ships, plus sensor-like noise, so they compress like photos. Made incrementally: the images
of a smaller N are the first ones of a larger N, and existing files are kept."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from nima_utils.data.sample_images import sample_photos

AVA_ROWS = 255_530
TEST_LIST = 20_000


def write_labels(folder: Path, seed: int = 0, rows: int = AVA_ROWS) -> tuple[Path, Path, np.ndarray]:
    """AVA.txt (255,530 rows: index, id, 10 vote counts, 2 tags, challenge) and generic_test.jpgl
    (20,000 ids; fewer rows keep AVA's share); returns their paths and the ids in the order images are made."""
    folder.mkdir(parents=True, exist_ok=True)
    n_test = round(TEST_LIST * rows / AVA_ROWS)
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(np.arange(1, 960_000), rows, replace=False))
    mean = np.clip(rng.normal(5.4, 0.7, rows), 2.0, 8.5)
    spread = rng.uniform(1.1, 1.7, rows)
    shape = np.exp(-((np.arange(1, 11)[None, :] - mean[:, None]) ** 2) / (2 * spread[:, None] ** 2))
    votes = rng.integers(78, 550, rows)
    counts = rng.multinomial(votes, shape / shape.sum(axis=1, keepdims=True))
    extra = np.column_stack([rng.integers(0, 66, rows), rng.integers(0, 66, rows),
                             rng.integers(1, 1400, rows)])
    table = np.column_stack([np.arange(1, rows + 1), ids, counts, extra])
    labels = folder / "AVA.txt"
    if not labels.exists():
        np.savetxt(labels, table, fmt="%d")
    test_ids = rng.choice(ids, n_test, replace=False)
    test = folder / "generic_test.jpgl"
    if not test.exists():
        test.write_text("\n".join(map(str, np.sort(test_ids))) + "\n")
    # images are made in this order: test ids spread evenly, so any first N holds AVA's share of them
    is_test = np.diff(np.floor(np.arange(rows + 1) * n_test / rows)) > 0
    order = np.empty(rows, ids.dtype)
    order[is_test] = rng.permutation(test_ids)
    order[~is_test] = rng.permutation(np.setdiff1d(ids, test_ids))
    return labels, test, order


def _make_one(photo: Image.Image, path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = int(rng.integers(500, 801))
    h = round(w * rng.uniform(0.7, 0.8))
    if rng.random() < 0.3:
        w, h = h, w  # portrait
    pw, ph = photo.size
    scale = rng.uniform(0.6, 1.0)
    cw, ch = int(pw * scale), int(ph * scale)
    left, top = int(rng.integers(0, pw - cw + 1)), int(rng.integers(0, ph - ch + 1))
    img = photo.crop((left, top, left + cw, top + ch)).resize((w, h), Image.Resampling.BICUBIC)
    pixels = np.asarray(img, np.float32) + rng.normal(0.0, rng.uniform(2.0, 6.0), (h, w, 3)).astype(np.float32)
    tmp = path.with_suffix(".tmp")
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(tmp, "JPEG", quality=int(rng.integers(70, 96)))
    tmp.replace(path)


def make_images(folder: Path, ids: np.ndarray, n: int, seed: int = 0) -> list[Path]:
    """JPEGs `<id>.jpg` for the first `n` ids (kept if present); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = [Image.open(p).convert("RGB") for p in sample_photos()]
    paths = [folder / f"{i}.jpg" for i in ids[:n]]
    todo = [k for k, p in enumerate(paths) if not p.exists()]
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(lambda k: _make_one(photos[k % len(photos)], paths[k], seed * 1_000_003 + k), todo))
    return paths
