"""The settings of a training run, validated all at once before any work. Kept free of Keras
imports so that the command line can build its options from it instantly."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

SCHEDULES = {
    "paper": "SGD with momentum 0.9 on all layers from the start; base and head rates decay x0.95 every 10 epochs "
    "(Talebi & Milanfar 2018). The paper's rates (3e-7 / 3e-6) barely move a model in tens of epochs; the "
    "PyTorch port needed about 1000x higher: set base_lr / head_lr.",
    "two-phase": "Phase 1: the head alone on features of the frozen base computed once (Adam, head_phase_lr, "
    "head_epochs). Phase 2: all layers with Adam at base_lr / head_lr (idealo's recipe: 1e-3 for 5 epochs, then 3e-5).",
}
DEFAULT_RATES = {"paper": (3e-7, 3e-6), "two-phase": (3e-5, 3e-5)}
"""(base, head) learning rates of each schedule when not given."""
@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on; `validate()` explains every problem at once."""

    run_name: str = "nima"
    cache_dir: str = ""
    """The training cache of notebook 01 (splits train and val): the fast path."""
    data_source: str = "cache"
    """"cache", or "images": decode the original images every epoch (split_dir + images_dir)."""
    split_dir: str = ""
    images_dir: str = ""
    backbone: str = "mobilenet"
    alpha: float = 1.0
    input_size: int = 224
    resize_size: int = 256
    """Images are squashed to this and randomly cropped to input_size (the cache's size wins)."""
    schedule: str = "two-phase"
    base_lr: float | None = None
    head_lr: float | None = None
    head_phase_lr: float = 1e-3
    head_epochs: int = 5
    epochs: int = 15
    batch_size: int = 32
    dropout: float = 0.75
    momentum: float = 0.9
    lr_decay: float = 0.95
    lr_decay_epochs: int = 10
    patience: int = 10
    freeze_batchnorm: bool = True
    """Keep batch-norm layers in inference mode with their pre-trained statistics while fine-tuning
    (keras-io's transfer-learning advice): small or shifted batches otherwise drag them away."""
    initial_weights: str = "imagenet"
    """"imagenet" (the backbone's ImageNet weights), "none" (random) or a NIMA weights file to fine-tune."""
    seed: int = 0
    weights_dir: str = ""
    overwrite: bool = False
    """Replace a finished run of the same name (otherwise refused, so no trained model is lost)."""
    precision: str = "auto"

    def rates(self) -> tuple[float, float]:
        base, head = DEFAULT_RATES.get(self.schedule, (None, None))
        return (self.base_lr if self.base_lr is not None else base, self.head_lr if self.head_lr is not None else head)

    def problems(self) -> list[str]:
        """Every invalid setting, as a sentence: the settings themselves and the data they point to."""
        return self.setting_problems() + self.data_problems()

    def setting_problems(self) -> list[str]:
        """Every invalid setting that needs no prepared data to see (a pipeline checks these before
        notebook 01 has written the cache)."""
        found = []

        def positive_int(name: str, minimum: int = 1) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                found.append(f"{name} must be an integer >= {minimum}, got {value!r}")

        for name, minimum in (("epochs", 0), ("head_epochs", 0), ("batch_size", 1), ("patience", 1),
                              ("lr_decay_epochs", 1), ("seed", 0)):
            positive_int(name, minimum)
        if not self.run_name or not all(c.isalnum() or c in "-_." for c in self.run_name) or self.run_name[0] == ".":
            found.append(f"run_name must be a plain name (letters, digits, - _ .), got {self.run_name!r}")
        if self.schedule not in SCHEDULES:
            found.append(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        from nima_utils.model.card import BACKBONES

        if self.backbone not in BACKBONES:
            found.append(f"backbone must be one of {', '.join(BACKBONES)}, got {self.backbone!r}")
        else:
            backbone = BACKBONES[self.backbone]
            if not backbone.has_alpha and self.alpha != 1.0:
                found.append(f"backbone {self.backbone} has no width multiplier: alpha must be 1.0, got {self.alpha}")
            if isinstance(self.input_size, int) and self.input_size < backbone.min_input:
                found.append(f"backbone {self.backbone} needs input_size >= {backbone.min_input}, "
                             f"got {self.input_size}")
        if not isinstance(self.alpha, int | float) or not 0 < self.alpha <= 2:
            found.append(f"alpha must be in (0, 2], got {self.alpha!r}")
        if not isinstance(self.input_size, int) or not 32 <= self.input_size <= 1024:
            found.append(f"input_size must be an integer in [32, 1024], got {self.input_size!r}")
        elif not isinstance(self.resize_size, int) or self.resize_size < self.input_size:
            found.append(f"resize_size must be an integer >= input_size ({self.input_size}), got {self.resize_size!r}")
        if not isinstance(self.dropout, int | float) or not 0 <= self.dropout < 1:
            found.append(f"dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("base_lr", "head_lr", "head_phase_lr", "momentum", "lr_decay"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or not math.isfinite(value) or value < 0):
                found.append(f"{name} must be a non-negative number, got {value!r}")
        if self.schedule == "two-phase" and self.head_epochs == 0 and self.epochs == 0:
            found.append("head_epochs and epochs are both 0: nothing would be trained")
        if self.schedule == "paper" and self.epochs == 0:
            found.append("the paper schedule needs epochs >= 1")
        if self.precision not in ("auto", "float32", "mixed_bfloat16"):
            found.append(f"precision must be auto, float32 or mixed_bfloat16, got {self.precision!r}")
        if self.data_source not in ("cache", "images"):
            found.append(f"data_source must be 'cache' or 'images', got {self.data_source!r}")
        if self.initial_weights not in ("imagenet", "none") and not Path(self.initial_weights).is_file():
            found.append(f"initial_weights must be 'imagenet', 'none' or a NIMA weights file; "
                         f"{self.initial_weights!r} does not exist")
        return found

    def data_problems(self) -> list[str]:
        """Missing data: the cache, or the split and images folder, that notebook 01 writes."""
        found = []
        if self.data_source == "cache":
            if not self.cache_dir or not (Path(self.cache_dir) / "cache_manifest.json").is_file():
                found.append(f"cache_dir {self.cache_dir!r} holds no training cache (run notebook 01 first)")
        elif self.data_source == "images":
            for name in ("train.csv", "val.csv"):
                if not self.split_dir or not (Path(self.split_dir) / name).is_file():
                    found.append(f"split_dir {self.split_dir!r} has no {name} (run notebook 01 first)")
            if not self.images_dir or not Path(self.images_dir).is_dir():
                found.append(f"images_dir {self.images_dir!r} is not a folder")
        return found

    def validate(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("invalid training parameters:\n  - " + "\n  - ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
