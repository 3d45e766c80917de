"""Notebook 01's summary.json, read in one place: where the images, splits and training cache are."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path


@dataclasses.dataclass
class DataSummary:
    """What the later notebooks and `nima train` need from notebook 01's summary.json."""

    path: Path
    source: str
    split_scheme: str
    images_dir: Path
    splits_dir: Path
    cache_dir: Path | None
    cache_size: int | None
    seed: int = 0
    """The seed notebook 01 ran with (the demo's files are named by it)."""

    @property
    def synthetic_labels(self) -> bool:
        """The embedded demo dataset's labels are synthetic (they grade degradations, not taste)."""
        return self.source == "demo"

    def split_csv(self, split: str) -> Path:
        return self.splits_dir / f"{split}.csv"


def read_data_summary(path: str | Path) -> DataSummary:
    """Read notebook 01's summary.json; a missing file or key is a ValueError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data summary {path} does not exist: run notebooks/01_ava_download_cleanup.ipynb first "
                         "or pass data_summary=PATH to its summary.json")
    try:
        data = json.loads(path.read_text())
        cache = data.get("cache") or {}
        return DataSummary(
            path=path,
            source=str(data.get("source", "unknown")),
            split_scheme=str(data.get("split_scheme", "unknown")),
            images_dir=Path(data["images_dir"]),
            splits_dir=Path(data["splits"]["dir"]),
            cache_dir=Path(cache["dir"]) if cache.get("dir") else None,
            cache_size=int(cache["size"]) if cache.get("size") else None,
            seed=int(data.get("seed", 0)),
        )
    except json.JSONDecodeError as exc:
        raise ValueError(f"data summary {path} is not valid JSON: {exc}") from exc
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"data summary {path} lacks {exc} (expected notebook 01's summary.json with images_dir "
                         "and splits.dir)") from exc
