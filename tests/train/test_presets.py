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
    with pytest.raises(ValueError, match=r"does not exist: run notebooks/01_ava_download_cleanup\.ipynb first"):
        assemble(tmp_path / "absent.json")


def test_nima_train_preset_option_starts_from_the_preset(monkeypatch, tmp_path):
    import argparse

    from nima_utils.train import cli

    seen = {}
    monkeypatch.setattr(TrainConfig, "validate", lambda self: seen.setdefault("config", self) and None)
    monkeypatch.setattr("nima_utils.train.loop.train", lambda config, progress: (_ for _ in ()).throw(SystemExit(0)))
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", "--preset", "demo", "--epochs", "1", "--cache-dir", str(tmp_path)])
    with pytest.raises(SystemExit):
        args.func(args)
    config = seen["config"]
    assert config.epochs == 1 and config.head_phase_lr == PRESETS["demo"]["head_phase_lr"]
    assert config.cache_dir == str(tmp_path) and config.dropout == PRESETS["demo"]["dropout"]
