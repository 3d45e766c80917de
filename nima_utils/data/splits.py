"""Deterministic train/validation/test splits of a label table, written as CSVs with a manifest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from nima_utils import __version__
from nima_utils.data.ava import check_plain_id

PAPER_SIZES = {"train": 229_981, "val": 12_691, "test": 12_818}
"""Split sizes of the PyTorch NIMA port on the full AVA; scaled proportionally on smaller sets."""
SPLITS = ("train", "val", "test")


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _shuffled(ids: Iterable[str], seed: int) -> list[str]:
    ids = sorted(ids)  # the input order never matters, only the seed
    order = np.random.default_rng(seed).permutation(len(ids))
    return [ids[i] for i in order]


def read_groups(path: str | Path) -> dict[str, str]:
    """`groups.csv` (columns image_id, group) as {image id: group}: images that share content (e.g.
    versions and crops of one photo) and must stay in one split."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"groups file {path} cannot be read: {exc}") from exc
    if not {"image_id", "group"} <= set(frame.columns):
        raise ValueError(f"groups file {path} needs the columns image_id and group, has {', '.join(frame.columns)}")
    return dict(zip(frame["image_id"], frame["group"], strict=True))


def _group_of(groups: Mapping[str, str] | None) -> dict[str, str]:
    """Image id -> group; an id the mapping does not name is a group of its own."""
    return {} if groups is None else dict(groups)


def _take_groups(ids: list[str], group: dict[str, str], wanted: int) -> tuple[list[str], list[str]]:
    """Whole groups of `ids` (in the order their first image appears) until at least `wanted`
    images are taken; returns (taken, rest)."""
    members: dict[str, list[str]] = {}
    for image_id in ids:
        members.setdefault(group.get(image_id, "id:" + image_id), []).append(image_id)
    taken: list[str] = []
    for name in members:
        if len(taken) >= wanted:
            break
        taken += members[name]
    chosen = set(taken)
    return taken, [i for i in ids if i not in chosen]


def official_split(ids: Iterable[str], test_list: Iterable[str], val_share: float = 0.05, seed: int = 0,
                   groups: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Test: the ids of the official list (e.g. `generic_test.jpgl`) that are in `ids` (labelled
    and with an image); train: the rest, minus a seeded `val_share` carved out for validation.

    With `groups` (image id -> group), validation takes whole groups (about `val_share` of the
    groups, at least one), so it holds content training never sees; images that share a group with
    a test image are left out of train and validation."""
    if not 0 <= val_share < 1:
        raise ValueError(f"val_share must lie in [0, 1), got {val_share}")
    ids = set(ids)
    test = sorted(ids & set(test_list))
    group = _group_of(groups)
    rest = _shuffled(ids - set(test), seed)
    if groups is None:
        n_val = round(len(rest) * val_share)
        return {"train": sorted(rest[n_val:]), "val": sorted(rest[:n_val]), "test": test}
    test_groups = {group[i] for i in test if i in group}
    rest = [i for i in rest if group.get(i) not in test_groups]
    names = _shuffled({group.get(i, "id:" + i) for i in rest}, seed)
    n_val = max(1, round(len(names) * val_share)) if val_share and len(names) > 1 else 0
    chosen = set(names[:n_val])
    val = [i for i in rest if group.get(i, "id:" + i) in chosen]
    return {"train": sorted(set(rest) - set(val)), "val": sorted(val), "test": test}


def paper_sizes(n: int) -> dict[str, int]:
    """The paper split's sizes scaled to `n` images (exactly the paper's on 255,490)."""
    total = sum(PAPER_SIZES.values())
    val = round(n * PAPER_SIZES["val"] / total)
    test = round(n * PAPER_SIZES["test"] / total)
    return {"train": n - val - test, "val": val, "test": test}


def paper_split(ids: Iterable[str], seed: int = 0, groups: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Random train/val/test in the proportions 229,981 / 12,691 / 12,818; with `groups`, whole
    groups go to one split (test and validation reach at least their share of images)."""
    shuffled = _shuffled(set(ids), seed)
    sizes = paper_sizes(len(shuffled))
    if groups is not None:
        group = _group_of(groups)
        test, rest = _take_groups(shuffled, group, sizes["test"])
        val, train = _take_groups(rest, group, sizes["val"])
        return {"train": sorted(train), "val": sorted(val), "test": sorted(test)}
    test = shuffled[: sizes["test"]]
    val = shuffled[sizes["test"] : sizes["test"] + sizes["val"]]
    train = shuffled[sizes["test"] + sizes["val"] :]
    return {"train": sorted(train), "val": sorted(val), "test": sorted(test)}


def check_disjoint(splits: dict[str, list[str]]) -> None:
    """Raise if an image id appears twice, within a split or across splits, or if a split name or
    an image id is not a plain id."""
    seen: dict[str, str] = {}
    for name, ids in splits.items():
        check_plain_id(name, "split name")
        for image_id in ids:
            check_plain_id(image_id)
            if image_id in seen:
                raise ValueError(f"image {image_id} is in both {seen[image_id]} and {name}")
            seen[image_id] = name


def make_split(table: pd.DataFrame, scheme: str, test_list: Iterable[str] | None = None, val_share: float = 0.05,
               seed: int = 0, groups: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Split the ids of a label table by `scheme` ("official" or "paper"); with `groups` (image id
    -> group), no group is in two splits."""
    if scheme == "official":
        if test_list is None:
            raise ValueError("the official split needs the official test list (generic_test.jpgl)")
        splits = official_split(table["image_id"], test_list, val_share, seed, groups)
    elif scheme == "paper":
        splits = paper_split(table["image_id"], seed, groups)
    else:
        raise ValueError(f"unknown split scheme {scheme!r} (official or paper)")
    check_disjoint(splits)
    return splits


def write_split(splits: dict[str, list[str]], table: pd.DataFrame, out_dir: str | Path, scheme: str, seed: int,
                val_share: float | None = None, sources: dict[str, str | Path] | None = None) -> Path:
    """Write `train.csv`, `val.csv`, `test.csv` (image_id, c1..c10, votes, mean, std, and group where
    the table has one) and `manifest.json` with counts, seed and the checksums of the source files.
    Returns the manifest's path."""
    check_disjoint(splits)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = ["image_id", *[f"c{i}" for i in range(1, 11)], "votes", "mean", "std"]
    grouped = "group" in table.columns
    columns += ["group"] if grouped else []
    for name in SPLITS:
        table.loc[splits[name], columns].to_csv(out_dir / f"{name}.csv", index=False, float_format="%.6f")
    manifest = {
        "scheme": scheme,
        "seed": seed,
        "val_share": val_share if scheme == "official" else None,
        "counts": {name: len(splits[name]) for name in SPLITS},
        "groups": {name: int(table.loc[splits[name], "group"].nunique()) for name in SPLITS} if grouped else None,
        "sources": {k: {"path": str(v), "sha256": _sha256(v)} for k, v in (sources or {}).items()},
        "files": {name: _sha256(out_dir / f"{name}.csv") for name in SPLITS},
        "nima_lab": __version__,
    }
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def read_split(out_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read back the split CSVs written by `write_split` (image ids and groups as strings)."""
    return {name: pd.read_csv(Path(out_dir) / f"{name}.csv", dtype={"image_id": str, "group": str})
            for name in SPLITS}
