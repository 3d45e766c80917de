"""`nima train`: a training run from the command line, its options made from `TrainConfig`'s fields.

The same command runs on every machine of a multi-worker run (each with its own TF_CONFIG)."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

from nima_utils.train.config import PRESETS, TrainConfig

_HELP = {
    "data_summary": "notebook 01's summary.json (fills cache_dir, split_dir, images_dir and resize_size)",
    "initial_weights": "'imagenet', 'none' or a NIMA weights file to fine-tune",
    "schedule": "'two-phase' (head on frozen features, then all layers) or 'paper'",
    "labels": "'human', 'synthetic' or 'unknown': recorded on the model card (default: from --data-summary's source)",
}


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def _real(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}")
    return value


def _number_or_none(text: str) -> float | None:
    return None if text.lower() in ("", "none", "default") else _real(text)


def _flag(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("true", "1", "yes")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train NIMA (see notebooks/02_train.ipynb); resumes an interrupted run",
                            description="Train NIMA. Every setting of nima_utils.train.loop.TrainConfig is an option.")
    parser.add_argument("--data-summary", type=Path, help=_HELP["data_summary"])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="",
                        help="named defaults (notebook 02 uses 'demo'); the options given win over them")
    for field in dataclasses.fields(TrainConfig):
        default = field.default
        kind = {bool: _flag, int: _whole, float: _real, str: str}.get(type(default), _number_or_none)
        metavar = "N" if kind is _whole else "X" if kind in (_real, _number_or_none) else "TEXT"
        # None: not given, so the preset's value (or the default) applies
        parser.add_argument("--" + field.name.replace("_", "-"), type=kind, default=None, metavar=metavar,
                            help=_HELP.get(field.name, f"default: {default}"))
    parser.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from nima_utils.train.assemble import assemble

    config = assemble(args.data_summary, args.preset, **{f.name: getattr(args, f.name)
                                                         for f in dataclasses.fields(TrainConfig)})
    config.validate()
    from nima_utils.train.loop import train

    result = train(config, progress=True)
    summary = result.summary
    print(f"nima train: best {summary['best_epoch']}, validation EMD {summary['best_val_emd']:.4f}, "
          f"{summary['wall_seconds']:.0f} s -> {result.weights}", file=sys.stderr)
    return 0
