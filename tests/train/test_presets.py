"""Named training presets: notebook 02 and `nima train --preset` start from the same settings."""

import json

import pytest

from nima_utils.train.assemble import assemble
from nima_utils.train.config import PRESETS, TrainConfig


def test_preset_then_settings_that_are_given():
    config = TrainConfig.preset("demo", epochs=1, dropout=None)
    assert config.epochs == 1 and config.dropout == PRESETS["demo"]["dropout"]
    assert config.head_epochs == PRESETS["demo"]["head_epochs"] and config.batch_size == TrainConfig().batch_size
    assert TrainConfig.preset("") == TrainConfig()
    with pytest.raises(ValueError, match="unknown training preset 'fast'; available: demo"):
        TrainConfig.preset("fast")


def test_assemble_reads_the_data_summary_and_given_paths_win(tmp_path):
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"cache": {"dir": "/c", "size": 72}, "splits": {"dir": "/s"}, "images_dir": "/i"}))
    config = assemble(summary, "demo", cache_dir="", split_dir="/mine", head_epochs=3)
    assert (config.cache_dir, config.split_dir, config.images_dir, config.resize_size) == ("/c", "/mine", "/i", 72)
    assert config.head_epochs == 3 and config.dropout == PRESETS["demo"]["dropout"]
    with pytest.raises(ValueError, match="does not exist; run notebook 01 first"):
        assemble(tmp_path / "absent.json")
