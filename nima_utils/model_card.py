"""Model cards: the JSON sidecar that says how a NIMA weights file must be fed and what it is.

Scoring reads the card, so a model is always given the input it was trained on. A weights file
without a card is taken to be in the community layout (idealo's and titu1994's Keras 2 files).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

CARD_VERSION = 1
RESIZE_METHODS = ("nearest", "bilinear", "bicubic", "lanczos")
PREPROCESSING = ("mobilenet", "mobilenet_v2", "inception_v3", "vgg16")
"""Pixel scaling by backbone: the first three map to [-1, 1], vgg16 is Caffe-style BGR minus the ImageNet mean."""
PADDINGS = ("same", "symmetric")


@dataclasses.dataclass
class ModelCard:
    """What a NIMA weights file is and how to feed it."""

    backbone: str = "mobilenet"
    alpha: float = 1.0
    input_size: int = 224
    resize: str = "nearest"
    resize_size: int | None = None
    """None: squash straight to input_size (community files). N: resize to NxN, then centre-crop
    input_size, the evaluation view of training on random crops of an NxN cache."""
    preprocessing: str = "mobilenet"
    padding: str = "same"
    dropout: float = 0.75
    training_data: str = "unknown"
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    training: dict[str, Any] = dataclasses.field(default_factory=dict)
    """How a project-trained model was made: data and split, schedule and rates, epochs, best epoch,
    wall time, images/s, backend, device, versions, seed. Empty for community files."""
    source: str = ""
    license: str = ""
    fingerprint: str = ""
    notes: str = ""
    card_version: int = CARD_VERSION

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_METHODS:
            raise ValueError(f"model card: resize must be one of {RESIZE_METHODS}, got {self.resize!r}")
        if self.preprocessing not in PREPROCESSING:
            raise ValueError(f"model card: preprocessing must be one of {PREPROCESSING}, got {self.preprocessing!r}")
        if self.padding not in PADDINGS:
            raise ValueError(f"model card: padding must be one of {PADDINGS}, got {self.padding!r}")
        if not (32 <= int(self.input_size) <= 4096):
            raise ValueError(f"model card: input_size {self.input_size} is out of range")
        if self.resize_size is not None and not (int(self.input_size) <= int(self.resize_size) <= 4096):
            raise ValueError(
                f"model card: resize_size {self.resize_size} must be at least input_size {self.input_size}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def community_card(padding: str = "symmetric") -> ModelCard:
    """The layout of card-less community files: MobileNet 224, nearest resize, MobileNet scaling."""
    return ModelCard(
        padding=padding,
        training_data="AVA (community weights; split unknown)",
        notes="No model card found: assumed the community layout (MobileNet, 224x224, "
        "nearest-neighbour resize, mobilenet preprocess_input).",
    )


def card_path(weights: str | Path) -> Path:
    """The sidecar of a weights file: `x.weights.h5` / `x.hdf5` / `x.tflite` -> `x.card.json`."""
    p = Path(weights)
    name = p.name
    for suffix in (".weights.h5", ".hdf5", ".h5", ".keras", ".tflite"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(name + ".card.json")


def read_card(weights: str | Path) -> ModelCard | None:
    """The card beside `weights`, or None when there is none."""
    path = card_path(weights)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"model card {path} is not valid JSON: {exc}") from exc
    return ModelCard.from_dict(data)


def write_card(weights: str | Path, card: ModelCard) -> Path:
    """Write the sidecar card of `weights` and return its path."""
    path = card_path(weights)
    path.write_text(json.dumps(card.to_dict(), indent=2, sort_keys=True) + "\n")
    return path
