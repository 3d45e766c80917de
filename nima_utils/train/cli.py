"""`nima train`: a training run from the command line, its options made from `TrainConfig`'s fields.

The same command runs on every machine of a multi-worker run (each with its own TF_CONFIG)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

from nima_utils.train.config import TrainConfig

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
    for field in dataclasses.fields(TrainConfig):
        default = field.default
        kind = {bool: _flag, int: _whole, float: _real, str: str}.get(type(default), _number_or_none)
        metavar = "N" if kind is _whole else "X" if kind in (_real, _number_or_none) else "TEXT"
        parser.add_argument("--" + field.name.replace("_", "-"), type=kind, default=default, metavar=metavar,
                            help=_HELP.get(field.name, f"default: {default}"))
    parser.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    if args.data_summary:
        if not args.data_summary.is_file():
            raise ValueError(f"--data-summary {args.data_summary} does not exist (notebook 01 writes it)")
        data = json.loads(args.data_summary.read_text())
        values.update(cache_dir=values["cache_dir"] or data.get("cache", {}).get("dir", ""),
                      split_dir=values["split_dir"] or data.get("splits", {}).get("dir", ""),
                      images_dir=values["images_dir"] or data.get("images_dir", ""))
        values["resize_size"] = data.get("cache", {}).get("size", values["resize_size"])
        if values["labels"] == "unknown":
            from nima_utils.data.sources import labels_of_source

            values["labels"] = labels_of_source(str(data.get("source", "")))
    config = TrainConfig(**values)
    config.validate()
    from nima_utils.train.loop import train

    result = train(config, progress=True)
    summary = result.summary
    print(f"nima train: best {summary['best_epoch']}, validation EMD {summary['best_val_emd']:.4f}, "
          f"{summary['wall_seconds']:.0f} s -> {result.weights}", file=sys.stderr)
    return 0
