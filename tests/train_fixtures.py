"""A small training setup on the embedded demo data, built as notebook 01 builds it: labels,
cleanup, official split and a training cache (at a small size, so tiny models train in seconds)."""

from __future__ import annotations

from pathlib import Path

from nima_utils.data.ava import read_image_list, read_labels
from nima_utils.data.cache import build_cache
from nima_utils.data.cleanup import clean_labels
from nima_utils.data.sources import fetch_demo
from nima_utils.data.splits import make_split, write_split


def demo_training_data(root: Path, cache_size: int = 72) -> dict[str, Path]:
    """Demo dataset -> split CSVs and a `cache_size` px cache in `root`; returns their folders."""
    files = fetch_demo(root / "data", progress=False)
    clean = clean_labels(read_labels(files.labels).table, files.images_dir, workers=2).clean
    splits = make_split(clean, "official", read_image_list(files.test_list), 0.1, 0)
    split_dir = root / "splits"
    write_split(splits, clean, split_dir, "official", 0, 0.1)
    cache_dir = root / f"cache_{cache_size}"
    for name in ("train", "val", "test"):
        build_cache(clean.loc[splits[name]], files.images_dir, cache_dir, name, size=cache_size, workers=2,
                    progress=False)
    return {"cache_dir": cache_dir, "split_dir": split_dir, "images_dir": files.images_dir}

