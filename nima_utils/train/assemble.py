"""A training run's settings from notebook 01's summary.json and a named preset: what notebook 02
and `nima train --data-summary` both do, so the two train alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nima_utils.train.config import TrainConfig


def data_settings(data_summary: str | Path) -> dict[str, Any]:
    """The training data notebook 01 prepared (cache, split, images folder, cache size), from its summary.json."""
    path = Path(data_summary)
    if not path.is_file():
        raise ValueError(f"data_summary: {path} does not exist; run notebook 01 first (it writes it)")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"data_summary: {path} is not notebook 01's summary.json: {exc}") from exc
    settings = {"cache_dir": data.get("cache", {}).get("dir", ""), "split_dir": data.get("splits", {}).get("dir", ""),
                "images_dir": data.get("images_dir", "")}
    if data.get("cache", {}).get("size"):
        settings["resize_size"] = data["cache"]["size"]
    return settings


def assemble(data_summary: str | Path | None, preset: str = "", **settings: Any) -> TrainConfig:
    """TrainConfig's defaults, then `preset`'s, then the data of `data_summary` (paths given in
    `settings` win), then `settings` that are not None; not yet validated."""
    data = data_settings(data_summary) if data_summary else {}
    given = {k: v for k, v in settings.items() if v not in (None, "") or k not in data}
    return TrainConfig.preset(preset, **{**data, **given})
