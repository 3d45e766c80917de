"""AVA labels: `AVA.txt`, vote-count CSVs, the official image lists and the tag/challenge tables.

Image ids stay strings. Malformed lines are reported with their line numbers, never a crash.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd

from nima_utils.model.metrics import SCORES, normalize

COUNT_COLUMNS = [f"c{i}" for i in range(1, 11)]
P_COLUMNS = [f"p{i}" for i in range(1, 11)]
"""The normalized distribution's columns (`with_distribution` adds them)."""
AVA_TXT_COLUMNS = ["index", "image_id", *COUNT_COLUMNS, "tag1", "tag2", "challenge"]
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def is_plain_id(value: object) -> bool:
    """True for a plain name that is safe as a file name: letters, digits, "_" and "-", at most 64
    characters, not starting with "-" (AVA's image ids are digits). No dots, slashes or spaces."""
    return isinstance(value, str) and _PLAIN.fullmatch(value) is not None


def check_plain_id(value: object, what: str = "image id") -> str:
    """`value` if it is a plain id (see `is_plain_id`), else a ValueError that names it. Image ids
    come from downloaded label files and become file names: this is the one gate they all pass."""
    if not is_plain_id(value):
        raise ValueError(f"{what} {str(value)[:80]!r} is not a plain id (letters, digits, '_' and '-' only, "
                         "at most 64 characters)")
    return value  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True)
class ParseIssue:
    """A line that could not be used, with where and why."""

    line: int
    reason: str
    text: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}: {self.text[:80]!r}"


@dataclasses.dataclass
class Labels:
    """A label table (one row per image, indexed by image id as a string) and the lines skipped."""

    table: pd.DataFrame
    issues: list[ParseIssue]


def _check_counts(counts: list[str]) -> tuple[list[int] | None, str | None]:
    try:
        values = [int(c) for c in counts]
    except ValueError:
        return None, "vote counts are not integers"
    if any(v < 0 for v in values):
        return None, "negative vote count"
    if sum(values) == 0:
        return None, "no votes"
    return values, None


def _finish(rows: list[dict], issues: list[ParseIssue]) -> Labels:
    table = pd.DataFrame(rows, columns=list(rows[0]) if rows else ["image_id", *COUNT_COLUMNS])
    table = table.astype({c: "int64" for c in COUNT_COLUMNS})
    table = with_distribution(table.set_index("image_id", drop=False))
    table.index.name = None
    return Labels(table, issues)


def read_ava_txt(path: str | Path) -> Labels:
    """Parse `AVA.txt`: index, image id, 10 vote counts (scores 1..10), 2 semantic tags, challenge.

    Lines with the wrong number of fields, non-integer or negative counts, no votes at all or an
    id already seen are skipped and reported as `ParseIssue`s.
    """
    rows: list[dict] = []
    issues: list[ParseIssue] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, raw in enumerate(f, start=1):
            text = raw.strip()
            if not text:
                continue
            fields = text.split()
            if len(fields) != 15:
                issues.append(ParseIssue(number, f"expected 15 fields, found {len(fields)}", text))
                continue
            counts, problem = _check_counts(fields[2:12])
            if problem is None and not all(x.lstrip("-").isdigit() for x in (fields[12], fields[13], fields[14])):
                problem = "tag or challenge id is not an integer"
            if problem is None and not is_plain_id(fields[1]):
                problem = "image id is not a plain id (letters, digits, '_' and '-')"
            if problem is None and fields[1] in seen:
                problem = f"duplicate image id {fields[1]} (first on line {seen[fields[1]]})"
            if problem is not None:
                issues.append(ParseIssue(number, problem, text))
                continue
            seen[fields[1]] = number
            rows.append({"image_id": fields[1], **dict(zip(COUNT_COLUMNS, counts, strict=True)),
                         "tag1": int(fields[12]), "tag2": int(fields[13]), "challenge": int(fields[14])})
    return _finish(rows, issues)


def read_votes_csv(path: str | Path) -> Labels:
    """Parse a vote-count CSV with a header `image_id,c1,...,c10` (extra columns are ignored)."""
    rows: list[dict] = []
    issues: list[ParseIssue] = []
    seen: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or "image_id" not in header or not set(COUNT_COLUMNS) <= set(header):
            raise ValueError(f"{path}: the header must name image_id and c1..c10, found {header}")
        where = [header.index(c) for c in ["image_id", *COUNT_COLUMNS]]
        for number, fields in enumerate(reader, start=2):
            if not fields:
                continue
            text = ",".join(fields)
            if len(fields) != len(header):
                issues.append(ParseIssue(number, f"expected {len(header)} fields, found {len(fields)}", text))
                continue
            image_id = fields[where[0]].strip()
            counts, problem = _check_counts([fields[i] for i in where[1:]])
            if problem is None and not image_id:
                problem = "empty image id"
            if problem is None and not is_plain_id(image_id):
                problem = "image id is not a plain id (letters, digits, '_' and '-')"
            if problem is None and image_id in seen:
                problem = f"duplicate image id {image_id} (first on line {seen[image_id]})"
            if problem is not None:
                issues.append(ParseIssue(number, problem, text))
                continue
            seen[image_id] = number
            rows.append({"image_id": image_id, **dict(zip(COUNT_COLUMNS, counts, strict=True))})
    return _finish(rows, issues)


def read_labels(path: str | Path) -> Labels:
    """`AVA.txt`-style (space separated) or vote-count CSV, chosen by the file's suffix."""
    return read_votes_csv(path) if Path(path).suffix.lower() == ".csv" else read_ava_txt(path)


def with_distribution(table: pd.DataFrame) -> pd.DataFrame:
    """Add `votes`, the normalized distribution `p1..p10`, `mean` and `std` to a count table."""
    counts = table[COUNT_COLUMNS].to_numpy(dtype=np.float64).reshape(-1, 10)
    votes = counts.sum(axis=1)
    p = normalize(counts)
    mean = p @ SCORES
    out = table.copy()
    out["votes"] = votes.astype(np.int64)
    for i in range(10):
        out[f"p{i + 1}"] = p[:, i]
    out["mean"] = mean
    out["std"] = np.sqrt(np.maximum(p @ SCORES**2 - mean**2, 0))
    return out


def distributions(table: pd.DataFrame) -> np.ndarray:
    """The (N, 10) human score distributions of a label table: its p1..p10, else its vote counts
    c1..c10 normalized (a row without votes is a ValueError)."""
    if set(P_COLUMNS) <= set(table.columns):
        return table[P_COLUMNS].to_numpy(dtype=np.float64)
    return normalize(table[COUNT_COLUMNS].to_numpy(dtype=np.float64).reshape(-1, 10))


def read_image_list(path: str | Path) -> list[str]:
    """An official AVA image list (`*.jpgl`): one image id a line. Lines that are not plain ids
    are left out (they cannot name an image)."""
    ids = (line.strip() for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines())
    return [i for i in ids if is_plain_id(i)]


def read_id_table(path: str | Path) -> dict[int, str]:
    """The semantic-tag (`tags.txt`) or challenge (`challenges.txt`) table: `id name` a line."""
    table: dict[int, str] = {}
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        key, _, name = line.strip().partition(" ")
        if key.isdigit():
            table[int(key)] = name.strip()
    return table
