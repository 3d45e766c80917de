"""Weights a pipeline run needs that must be downloaded, checked before any notebook runs: fetched
when online; when offline, one message naming each missing file, its URL and where to put it."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from nima_utils.model.backbones import BACKBONES
from nima_utils.pipeline.config import PipelineConfig, notebook_parameters

KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


class MissingWeightsError(RuntimeError):
    """Weights the run needs are missing and could not be downloaded."""


@dataclasses.dataclass
class Needed:
    what: str
    path: Path
    url: str
    put_it: str
    idealo: bool = False


def keras_models_dir() -> Path:
    """Where Keras looks for (and caches) ImageNet weights: $KERAS_HOME/models, else ~/.keras/models."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"


def imagenet_file(backbone: str, alpha: float, input_size: int) -> str:
    """The file name `keras.applications.<backbone>(weights="imagenet", include_top=False)` looks for."""
    return BACKBONES[backbone].imagenet_file(alpha, input_size)


def keras_file_url(base: str, remote: str) -> str:
    """Where to fetch Keras' `remote` file (e.g. mobilenet/x.h5) from `base`: a folder laid out as Keras'
    keras-applications/ (with or without a trailing slash), or one file's URL (a flat mirror: the
    other files are looked for beside it)."""
    base = base.strip()
    if base.rsplit("/", 1)[-1].endswith(".h5"):
        return base.rsplit("/", 1)[0] + "/" + remote.rsplit("/", 1)[-1]
    return base.rstrip("/") + "/" + remote


def needed(config: PipelineConfig, keras_base_url: str = KERAS_BASE_URL,
           idealo_url: str | None = None) -> list[Needed]:
    """What the run will download if absent: ImageNet backbones that training starts from, and idealo's
    NIMA when notebook 04 or 05 studies its default weights (idealo's are what it prefers)."""
    from nima_utils.model.weights import IDEALO_FILENAME, IDEALO_URL, idealo_file_url
    from nima_utils.paths import weights_dir
    from nima_utils.train.config import TrainConfig

    out: dict[Path, Needed] = {}
    train = config.notebooks.get("02_train")
    if train is not None:
        defaults = {k: v["default"] for k, v in notebook_parameters("02_train").items()}
        for variant in config.variants():
            try:  # the settings as notebook 02 will run them: its preset's, then the config's
                run = TrainConfig.from_values({**defaults, **train, **variant.overrides})
            except ValueError:  # an unknown preset: the config check names it
                continue
            if run.initial_weights != "imagenet":
                continue
            remote = imagenet_file(run.backbone, float(run.alpha), int(run.input_size))
            path = keras_models_dir() / Path(remote).name
            out[path] = Needed(f"Keras' ImageNet {run.backbone} ({Path(remote).name})", path,
                               keras_file_url(keras_base_url, remote),
                               f"KERAS_HOME/models/ (here: {path.parent}/) or `nima pipeline --keras-url MIRROR` "
                               "(a folder laid out as keras-applications/, or the file's URL)")
    studies = [n for n in ("04_sensitivity", "05_explore") if n in config.notebooks
               and not config.notebooks[n].get("weights")]
    if studies:
        path = weights_dir() / IDEALO_FILENAME
        which = " and ".join(n[:2] for n in studies)
        out[path] = Needed(f"idealo's NIMA ({IDEALO_FILENAME}, the default weights of notebook {which})", path,
                           idealo_file_url(idealo_url) if idealo_url else IDEALO_URL,
                           f"weights/ (here: {path.parent}/; any name), or `nima pipeline --idealo-url MIRROR` "
                           "or `nima weights --url MIRROR` (the file's URL or its folder)", idealo=True)
    return list(out.values())


def present(item: Needed) -> bool:
    from nima_utils.model.weights import find_idealo

    return find_idealo(item.path.parent) is not None if item.idealo else item.path.is_file()


def ensure(items: list[Needed], echo: Callable[[str], None] = print) -> None:
    """Fetch every missing item (idealo's file, when present, is verified by fingerprint as `nima weights
    --if-missing` does, and fetched again if damaged); raise `MissingWeightsError` naming each not fetched."""
    from nima_utils.data.download import DownloadError, download_file
    from nima_utils.model.weights import WeightsError, ensure_idealo

    failed = []
    for item in items:
        if present(item) and not item.idealo:
            continue
        if not present(item):
            echo(f"downloading {item.what} from {item.url}")
        try:
            if item.idealo:
                ensure_idealo(item.path.parent, url=item.url, progress=False)
            else:
                item.path.parent.mkdir(parents=True, exist_ok=True)
                download_file(item.url, item.path, retries=2, timeout=30.0, progress=False)
        except (DownloadError, WeightsError, OSError) as exc:
            failed.append((item, str(exc)))
    if failed:
        lines = [f"- {item.what}: missing ({why})\n    from:   {item.url}\n    put it: {item.put_it}"
                 for item, why in failed]
        raise MissingWeightsError("weights this run needs are missing and could not be downloaded:\n"
                                  + "\n".join(lines))
