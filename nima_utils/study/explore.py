"""Interactive exploration (notebook 05): one photo, a set of edits and a resize method in; the edited
photo, the model's view of it and the predicted score distribution out.

The notebook's sliders only call `explore`; its static version (papermill, nbval) calls the same
function for the fixed `STATIC_SETTINGS`. Edits are those of `perturbations`, applied in the
registry's order; an edit at its identity factor is skipped (JPEG at quality 100 means "not re-encoded").
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from PIL import Image

from nima_utils.images import ImageLoadError, load_image, model_view, preprocess
from nima_utils.model.card import RESIZE_METHODS
from nima_utils.model.engine import Engine
from nima_utils.model.metrics import mean_score, std_score
from nima_utils.study.perturbations import PERTURBATIONS, get
from nima_utils.study.sensitivity import SensitivityParameters

if TYPE_CHECKING:
    from nima_utils.study.saliency import GradCam, Saliency

STEPS = {"contrast": 0.05, "brightness": 0.05, "saturation": 0.1, "sharpness": 0.25, "blur": 0.25, "jpeg": 1.0,
         "noise": 1.0}
"""Each slider's step; its range is the registry's default range of factors."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """One position of the controls: a factor per edit (missing: identity) and the resize method
    (None: the model card's own)."""

    label: str = "as is"
    edits: Mapping[str, float] = dataclasses.field(default_factory=dict)
    resize: str | None = None


STATIC_SETTINGS = (
    Settings("as is"),
    Settings("contrast 0.5", {"contrast": 0.5}),
    Settings("saturation 0", {"saturation": 0.0}),
    Settings("blur 4 px", {"blur": 4.0}),
    Settings("JPEG quality 10", {"jpeg": 10.0}),
    Settings("noise sigma 20", {"noise": 20.0}),
    Settings("bicubic resize", {}, "bicubic"),
)
"""The slider positions the static version (papermill, nbval) renders."""


@dataclasses.dataclass
class Exploration:
    """What one position of the controls gives: the edited photo, the model's view, the prediction."""

    settings: Settings
    edited: Image.Image
    view: np.ndarray
    """The model's input before pixel scaling: uint8 (size, size, 3), as its card resizes and crops."""
    resize: str
    probs: np.ndarray
    mean: float
    std: float


def slider_range(name: str) -> tuple[float, float, float]:
    """(minimum, maximum, step) of the slider for edit `name`: the registry's range of factors."""
    p = get(name)
    return min(p.factors), max(p.factors), STEPS[name]


def edit(photo: Image.Image, edits: Mapping[str, float], seed: int = 0) -> Image.Image:
    """`photo` with every edit not at its identity factor, in the registry's order (contrast first)."""
    unknown = [n for n in edits if n not in PERTURBATIONS]
    if unknown:
        raise ValueError(f"unknown edit {', '.join(unknown)}; available: {', '.join(PERTURBATIONS)}")
    out = photo.convert("RGB")
    for name, p in PERTURBATIONS.items():
        factor = float(edits.get(name, p.identity))
        if factor != p.identity:
            out = p(out, factor, seed=seed)
    return out


def _view(photo: Image.Image, engine: Engine, settings: Settings, seed: int) -> tuple[Image.Image, np.ndarray, str]:
    card = engine.card
    resize = settings.resize or card.resize
    if resize not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {resize!r}; available: {', '.join(RESIZE_METHODS)}")
    edited = edit(photo, settings.edits, seed)
    return edited, model_view(edited, card.input_size, resize, card.resize_size), resize


def explore_many(photo: Image.Image, engine: Engine, settings: tuple[Settings, ...] = STATIC_SETTINGS,
                 seed: int = 0) -> list[Exploration]:
    """Edit `photo` as each of `settings` says, feed each version as the card prescribes (its resize
    overridden where set) and score them all in one batch."""
    prepared = [_view(photo, engine, s, seed) for s in settings]
    if not prepared:
        return []
    batch = preprocess(np.stack([view for _, view, _ in prepared]), engine.card.preprocessing)
    probs = engine.predict(batch)
    return [Exploration(s, edited, view, resize, p, float(mean_score(p)), float(std_score(p)))
            for s, (edited, view, resize), p in zip(settings, prepared, probs, strict=True)]


def explore(photo: Image.Image, engine: Engine, settings: Settings = Settings(), seed: int = 0) -> Exploration:
    """One position of the controls: the edited photo, the model's view of it and its prediction."""
    return explore_many(photo, engine, (settings,), seed)[0]


def explain(result: Exploration, cam: GradCam, preprocessing: str, target: str = "mean") -> Saliency:
    """The Grad-CAM map of one exploration's model view, explaining `target` ("mean" or "above5")."""
    return cam.maps(preprocess(result.view, preprocessing)[None], target)[0]


def saliency_maps(photos: Mapping[str, Image.Image], engine: Engine, cam: GradCam,
                  targets: tuple[str, ...] = ("mean", "above5")) -> tuple[dict[str, np.ndarray], dict[str, list]]:
    """The model's view of each photo (as its card says) and, per target, their Grad-CAM maps in that order."""
    card = engine.card
    views = {name: model_view(img, card.input_size, card.resize, card.resize_size) for name, img in photos.items()}
    if not views:
        return views, {t: [] for t in targets}
    batch = preprocess(np.stack(list(views.values())), card.preprocessing)
    return views, {t: cam.maps(batch, t) for t in targets}


def uploaded_photo(upload: object) -> tuple[str, Image.Image]:
    """The newest file of an ipywidgets FileUpload value (name, RGB image); ImageLoadError if unreadable."""
    files = list(upload or ())
    if not files:
        raise ImageLoadError("no file uploaded")
    item = files[-1]
    return str(item["name"]), load_image(bytes(item["content"]))


def model_choices(weights: str | Path = "", folder: str | Path | None = None) -> dict[str, Path]:
    """The models a user can pick, by label: the weights given, idealo's file and the project's runs in
    `folder` (default weights/), newest run first."""
    from nima_utils.model.weights import find_idealo, trained_weights
    from nima_utils.paths import weights_dir

    folder = Path(folder) if folder is not None else weights_dir()
    choices: dict[str, Path] = {}
    if weights:
        choices[f"given: {Path(weights).name}"] = Path(weights)
    idealo = find_idealo(folder)
    if idealo is not None:
        choices[f"idealo (AVA votes): {idealo.name}"] = idealo
    for path in trained_weights(folder):
        label = f"run {path.parent.name}: {path.name}" if path.parent != folder else f"run: {path.name}"
        choices.setdefault(label, path)
    return choices


def png_bytes(figure: object, dpi: int = 80) -> bytes:
    """A matplotlib figure as PNG bytes (for an ipywidgets Image), closed afterwards."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=dpi)  # type: ignore[attr-defined]
    plt.close(figure)  # type: ignore[arg-type]
    return buf.getvalue()


def summary_rows(results: list[Exploration]) -> list[dict]:
    """The static version's predictions as rows for summary.json."""
    return [{"label": r.settings.label, "edits": dict(r.settings.edits), "resize": r.resize,
             "mean": round(r.mean, 4), "std": round(r.std, 4), "probs": [round(float(p), 5) for p in r.probs]}
            for r in results]


@dataclasses.dataclass
class ExploreParameters(SensitivityParameters):
    """Notebook 05's parameters: notebook 04's photo and model choice, plus the saliency maps to draw."""

    title: ClassVar[str] = "notebook 05 (explore) parameters"

    saliency_images: int = 3

    def _value_problems(self) -> list[str]:
        return super()._value_problems() + saliency_problems(self.saliency_images)


def check_parameters(weights: str, images: str, data_summary: str | Path, max_images: object,
                     saliency_images: object, seed: object) -> None:
    """Validate notebook 05's parameters: one `ParameterError` (a ValueError) naming every problem."""
    ExploreParameters(weights=weights, images=images, data_summary=data_summary, max_images=max_images,
                      seed=seed, saliency_images=saliency_images).check()  # type: ignore[arg-type]


def saliency_problems(saliency_images: object) -> list[str]:
    if isinstance(saliency_images, bool) or not isinstance(saliency_images, int) or saliency_images < 0:
        return [f"saliency_images: must be a whole number >= 0, got {saliency_images!r}"]
    return []
