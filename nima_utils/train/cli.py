"""`nima train`: a training run from the command line, its options made from `TrainConfig`'s fields.

The same command runs on every machine of a multi-worker run (each with its own TF_CONFIG)."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

from nima_utils.train.config import PRESETS, SCHEDULES, TrainConfig

HELP = {
    "run_name": "weights go to WEIGHTS_DIR/RUN_NAME/; the same name and settings resume an interrupted run",
    "cache_dir": "notebook 01's training cache (default: from the data summary)",
    "data_source": "'cache' (the training cache, fast) or 'images' (decode SPLIT_DIR's originals every epoch)",
    "split_dir": "notebook 01's train/val/test CSVs, for --data-source images (default: from the data summary)",
    "images_dir": "the images those CSVs name, for --data-source images (default: from the data summary)",
    "backbone": "mobilenet, mobilenet_v2, vgg16 or inception_v3",
    "alpha": "MobileNet width multiplier, in (0, 2]; 1.0 for the other backbones",
    "input_size": "model input side in px (random crops of the resized images), 32 to 1024",
    "resize_size": "images are squashed to this side, then cropped (the data summary's cache size wins)",
    "schedule": f"{' or '.join(repr(s) for s in SCHEDULES)}: 'two-phase' trains the head on frozen features, "
                "then all layers; 'paper' is SGD on all layers",
    "base_lr": "learning rate of the backbone (default: the schedule's)",
    "head_lr": "learning rate of the head, the Dense 'scores' layer (default: the schedule's)",
    "head_phase_lr": "two-phase, phase 1: Adam rate of the head on frozen features",
    "head_epochs": "two-phase, phase 1 epochs (fast: the features are computed once)",
    "epochs": "all-layer epochs (phase 2, or the paper schedule)",
    "batch_size": "global batch (split over GPUs and workers)",
    "dropout": "dropout before the head, in [0, 1)",
    "momentum": "SGD momentum (paper schedule)",
    "lr_decay": "learning-rate factor every LR_DECAY_EPOCHS epochs (paper schedule)",
    "lr_decay_epochs": "epochs between learning-rate decays (paper schedule)",
    "patience": "early stopping: epochs without a better validation EMD",
    "freeze_batchnorm": "keep batch-norm layers at their pre-trained statistics while fine-tuning",
    "initial_weights": "'imagenet', 'none' (random) or a NIMA weights file to fine-tune",
    "seed": "data order, crops, flips, dropout and initial head weights",
    "weights_dir": "folder of the run folders (default: the project's weights/)",
    "labels": "'human', 'synthetic' or 'unknown': on the model card ('unknown': from the data summary's source)",
    "track": "track the run in MLflow (the project's mlruns/ or $MLFLOW_TRACKING_URI; see docs/tracking.md)",
    "experiment": "MLflow experiment of the run (default: $NIMA_EXPERIMENT, else nima-train)",
    "overwrite": "replace a finished run of the same name (otherwise refused, so no trained model is lost)",
    "precision": "'auto' (mixed_bfloat16 on GPUs that support it, else float32), 'float32' or 'mixed_bfloat16'",
}
"""One line of help per `TrainConfig` field, shown by `nima train --help`."""


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


def _option(parser: argparse.ArgumentParser, field: dataclasses.Field) -> None:
    """One option of `field`: a --flag/--no-flag for a boolean, else a typed value; its default shown if it has one."""
    flag, default = "--" + field.name.replace("_", "-"), field.default
    shown = "" if default in ("", None) or isinstance(default, bool) else f" (default: {default})"
    # default None: "not given", so --preset's value (or the field's default) applies
    if isinstance(default, bool):
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                            help=HELP[field.name] + f" (default: {'on' if default else 'off'})")
        return
    kind = {int: _whole, float: _real, str: str}.get(type(default), _number_or_none)
    metavar = "N" if kind is _whole else "X" if kind in (_real, _number_or_none) else None
    parser.add_argument(flag, type=kind, default=None, metavar=metavar, help=HELP[field.name] + shown)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train NIMA (see notebooks/02_train.ipynb); resumes an interrupted run",
                            description="Train NIMA. Every setting of nima_utils.train.config.TrainConfig is an "
                                        "option. Parameter errors are reported, all at once, before TensorFlow loads.")
    parser.add_argument("--data-summary", type=Path,
                        help="notebook 01's summary.json: fills --cache-dir, --split-dir, --images-dir and "
                             "--resize-size (default: reports/01_ava/summary.json, else the newest pipeline run's)")
    for field in dataclasses.fields(TrainConfig):
        _option(parser, field)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="",
                        help="named defaults (notebook 02 uses 'demo'); the options given win over them")
    parser.set_defaults(func=cmd_train)


def default_summary(reports: Path) -> Path | None:
    """Notebook 01's summary.json: its own run's (reports/01_ava/), else the newest a pipeline run wrote
    (reports/<run>/01_ava_download_cleanup/, as `make demo` does), else None."""
    own = reports / "01_ava" / "summary.json"
    if own.is_file():
        return own
    runs = [p for p in reports.glob("*/01_ava_download_cleanup/summary.json") if p.is_file()]
    return max(runs, key=lambda p: p.stat().st_mtime, default=None)


def cmd_train(args: argparse.Namespace) -> int:
    from nima_utils.paths import reports_dir
    from nima_utils.train.assemble import assemble

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    summary = args.data_summary
    if summary is None and not (values["cache_dir"] or values["split_dir"] or values["images_dir"]):
        summary = default_summary(reports_dir())
        if summary is None:
            print(f"nima train: no --data-summary given and no notebook 01 summary in {reports_dir()}/ "
                  "(run notebook 01 or `make demo` first)", file=sys.stderr)
        else:
            print(f"nima train: data from {summary} (choose another with --data-summary)", file=sys.stderr)
    config = assemble(summary, args.preset, **values)
    config.validate()
    from nima_utils.native_stderr import muted

    with muted():  # TensorFlow's start-up lines
        from nima_utils.train.loop import train

    result = train(config, progress=True)
    run = result.summary
    print(f"nima train: best {run['best_epoch']}, validation EMD {run['best_val_emd']:.4f}, "
          f"{run['wall_seconds']:.0f} s -> {result.weights}", file=sys.stderr)
    return 0
