"""A training run's settings from notebook 01's summary.json and a named preset: what notebook 02
and `nima train --data-summary` both do, so the two train alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nima_utils.data.sources import labels_of_source
from nima_utils.data.summary import read_data_summary
from nima_utils.train.config import TrainConfig


def data_settings(data_summary: str | Path) -> dict[str, Any]:
    """The training data notebook 01 prepared (cache, split, images folder, cache size), from its summary.json."""
    data = read_data_summary(data_summary)
    settings = {"cache_dir": str(data.cache_dir or ""), "split_dir": str(data.splits_dir),
                "images_dir": str(data.images_dir)}
    if data.cache_size:
        settings["resize_size"] = data.cache_size
    settings["labels"] = labels_of_source(data.source)  # so the card says whether a human voted
    return settings


def assemble(data_summary: str | Path | None, preset: str = "", **settings: Any) -> TrainConfig:
    """TrainConfig's defaults, then `preset`'s, then the data of `data_summary` (paths given in
    `settings` win), then `settings` that are not None; not yet validated."""
    data = data_settings(data_summary) if data_summary else {}
    given = {k: v for k, v in settings.items()
             if not (k in data and (v in (None, "") or (k == "labels" and v == "unknown")))}
    return TrainConfig.preset(preset, **{**data, **given})
