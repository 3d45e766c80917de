"""Model cards: the JSON sidecar that says how a NIMA weights file must be fed and what it is.

Scoring reads the card, so a model is always given the input it was trained on. A weights file
without a card is taken to be in the community layout (idealo's and titu1994's Keras 2 files).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

from nima_utils.model.backbones import BACKBONES as _BACKBONES
from nima_utils.model.backbones import PIXEL_SCALING

CARD_VERSION = 1
BACKBONES = tuple(_BACKBONES)
"""Backbone names a card may give (`model.backbones` describes each)."""
RESIZE_METHODS = ("nearest", "bilinear", "bicubic", "lanczos")
PREPROCESSING = tuple(PIXEL_SCALING)
"""Pixel scaling names (`model.backbones.PIXEL_SCALING`): each backbone's own."""
PADDINGS = ("same", "symmetric")
LABELS = ("human", "synthetic", "unknown")
"""What a model learned from: people's votes (AVA), the demo's synthetic labels, or not recorded."""
MAX_SIZE_ENV = "NIMA_MAX_INPUT_SIZE"
DEFAULT_MAX_SIZE = 1024
"""The largest input_size a card may ask for unless $NIMA_MAX_INPUT_SIZE raises it: each image costs the
square of it (issue 14 measured 55 s and 10.7 GB for one image with a 4096 card)."""
MAX_RESIZE_SIZE = 2048
"""The largest resize_size (notebook 01's largest cache) unless $NIMA_MAX_INPUT_SIZE is higher."""


def max_size() -> int:
    """The card size limit in force: $NIMA_MAX_INPUT_SIZE, else `DEFAULT_MAX_SIZE`."""
    text = os.environ.get(MAX_SIZE_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_SIZE
    if not text.isdigit() or int(text) < 32:
        raise ModelCardError(f"{MAX_SIZE_ENV} must be a whole number of 32 or more, got {text!r}", "environment")
    return int(text)


class ModelCardError(ValueError):
    """A model card that cannot be used: not JSON, or a field of the wrong type or an insane value.
    The one-line message names the card (file) and the field."""

    def __init__(self, problem: str, where: str = "model card") -> None:
        super().__init__(f"{where}: {problem}")
        self.problem = problem


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(ok: bool, field: str, expected: str, value: Any) -> None:
    if not ok:
        raise ModelCardError(f"field {field} must be {expected}, got {_shown(value)}")


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
    labels: str = "unknown"
    """One of LABELS: "human" (votes, AVA), "synthetic" (the embedded demo), "unknown" (not recorded;
    see `label_kind`, which also reads older cards)."""
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
        self.validate()

    def validate(self) -> None:
        """Check every field's type and range; a `ModelCardError` names the first bad field."""
        _check(isinstance(self.backbone, str) and self.backbone in BACKBONES, "backbone",
               f"one of {', '.join(BACKBONES)}", self.backbone)
        _check(_number(self.alpha) and 0 < self.alpha <= 2, "alpha", "a number in (0, 2]", self.alpha)
        limit = max_size()
        limits = {"input_size": limit, "resize_size": max(limit, MAX_RESIZE_SIZE)}
        _check(isinstance(self.input_size, int) and not isinstance(self.input_size, bool)
               and self.input_size >= 32, "input_size", "a whole number of 32 or more", self.input_size)
        _check(self.resize_size is None or (isinstance(self.resize_size, int) and not isinstance(self.resize_size, bool)
               and self.input_size <= self.resize_size), "resize_size",
               f"null or a whole number of input_size ({self.input_size}) or more", self.resize_size)
        for name, most in limits.items():
            value = getattr(self, name)
            if value is not None and value > most:
                raise ModelCardError(f"field {name} is {value}, above the limit of {most} pixels a side (each image "
                                     f"costs its square); set {MAX_SIZE_ENV}={value} to allow it")
        for name, allowed in (("resize", RESIZE_METHODS), ("preprocessing", PREPROCESSING), ("padding", PADDINGS),
                              ("labels", LABELS)):
            value = getattr(self, name)
            _check(isinstance(value, str) and value in allowed, name, f"one of {', '.join(allowed)}", value)
        _check(_number(self.dropout) and 0 <= self.dropout < 1, "dropout", "a number in [0, 1)", self.dropout)
        for name in ("metrics", "training"):
            _check(isinstance(getattr(self, name), dict), name, "an object (a JSON dict)", getattr(self, name))
        for name in ("training_data", "source", "license", "fingerprint", "notes"):
            _check(isinstance(getattr(self, name), str), name, "a string", getattr(self, name))
        _check(isinstance(self.card_version, int) and not isinstance(self.card_version, bool)
               and 1 <= self.card_version <= CARD_VERSION, "card_version",
               f"at most {CARD_VERSION} (a newer card needs a newer NIMA Lab)", self.card_version)

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
        labels="human",
        notes="No model card found: assumed the community layout (MobileNet, 224x224, "
        "nearest-neighbour resize, mobilenet preprocess_input).",
    )


_DEMO_DATA = re.compile(r"(cache|splits)_demo_|\"source\": \"demo\"|synthetic")
"""How cards written before the `labels` field name the demo's data: notebook 01's folder names
(cache_demo_..., splits_demo_...), a recorded source, or the word itself."""


def label_kind(card: ModelCard) -> str:
    """What the model learned from (one of LABELS): the card's `labels`, else, for cards written
    before that field, "synthetic" when its training data is the demo's, else "unknown"."""
    if card.labels != "unknown":
        return card.labels
    text = " ".join([card.training_data, json.dumps(card.training, default=str)]).lower()
    return "synthetic" if _DEMO_DATA.search(text) else "unknown"


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
    """The card beside `weights`, or None when there is none. A bad card raises a one-line
    `ModelCardError` that names the card file and the field."""
    path = card_path(weights)
    if not path.exists():
        return None
    where = f"model card {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelCardError(f"not valid JSON ({exc})", where) from None
    except RecursionError:
        raise ModelCardError("nested too deeply to be a model card", where) from None
    except OSError as exc:
        raise ModelCardError(f"cannot be read ({exc.strerror or exc})", where) from None
    if not isinstance(data, dict):
        raise ModelCardError(f"must hold a JSON object, got {type(data).__name__}", where)
    try:
        return ModelCard.from_dict(data)
    except ModelCardError as exc:
        raise ModelCardError(exc.problem, where) from None


def write_card(weights: str | Path, card: ModelCard) -> Path:
    """Write the sidecar card of `weights` and return its path."""
    path = card_path(weights)
    path.write_text(json.dumps(card.to_dict(), indent=2, sort_keys=True) + "\n")
    return path


def _shown_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def card_rows(card: ModelCard) -> dict[str, str]:
    """The card as field -> text for a table: its own fields, then `training: ...` and `card metrics: ...`
    (nested lists and dicts left out), floats to 4 significant digits (not 17)."""
    rows = {k: v for k, v in card.to_dict().items() if k not in ("metrics", "training")}
    rows.update({f"training: {k}": v for k, v in card.training.items() if not isinstance(v, (dict, list))})
    rows.update({f"card metrics: {k}": v for k, v in card.metrics.items() if not isinstance(v, (dict, list))})
    return {k: _shown_value(v) for k, v in rows.items()}
