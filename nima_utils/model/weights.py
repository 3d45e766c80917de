"""Loading, saving, finding and fingerprinting NIMA weights, whatever their origin."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from nima_utils.model.card import ModelCard, card_path, community_card, label_kind, read_card, write_card
from nima_utils.native_stderr import muted
from nima_utils.paths import weights_dir

if TYPE_CHECKING:
    import keras

IDEALO_FILENAME = "weights_mobilenet_aesthetic_0.07.hdf5"
IDEALO_URL = (
    "https://github.com/idealo/image-quality-assessment/raw/master/models/MobileNet/" + IDEALO_FILENAME
)
IDEALO_FINGERPRINT = "sha256:a6feb1feda6f2c10f1a86ecdcc809cb11dbc1c526eb1ff2644ab7aff1604cfed"
"""Fingerprint of the 137 tensors of idealo's aesthetic MobileNet, as loaded (see `fingerprint`)."""


def idealo_file_url(url: str) -> str:
    """idealo's weights file at `url`: the file's own URL (any name ending in .h5 or .hdf5), or a folder
    (with or without a trailing slash) that holds it under its published name."""
    url = url.strip()
    if url.rsplit("/", 1)[-1].endswith((".h5", ".hdf5")):
        return url
    return url.rstrip("/") + "/" + IDEALO_FILENAME


class WeightsError(RuntimeError):
    """A weights file is missing, unreadable or does not fit the architecture."""


NO_WEIGHTS_HELP = (
    "No NIMA weights found in {dir}. Get idealo's published aesthetic weights with "
    "`make weights` (or `nima weights`), train your own (notebooks/), or pass --weights FILE."
)


def fingerprint(model: keras.Model) -> str:
    """SHA-256 over the shapes and float32 values of every weight tensor, in model order.

    Unlike a file hash it does not change when the same tensors are stored in another container.
    """
    digest = hashlib.sha256()
    for w in model.get_weights():
        arr = np.ascontiguousarray(w, dtype=np.float32)
        digest.update(str(arr.shape).encode())
        digest.update(arr.tobytes())
    return "sha256:" + digest.hexdigest()


def _legacy_layer_names(path: Path) -> list[str]:
    """Layer names of a Keras 2 h5 file, a weights-only or a whole-model save."""
    try:
        with h5py.File(path, "r") as f:
            whole = "layer_names" not in f.attrs and "model_weights" in f
            group = f["model_weights"] if whole else f
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("layer_names", [])]
    except OSError as exc:
        raise WeightsError(f"{path} is not a readable HDF5 weights file ({exc}); re-download it") from exc
    if not names:
        raise WeightsError(f"{path} holds no Keras layer weights")
    return names


KERAS_SUFFIXES = (".weights.h5", ".keras", ".h5", ".hdf5")


def check_weights(path: str | Path, engine: str = "keras") -> ModelCard | None:
    """What can be known about a weights file without TensorFlow: that it exists, has a format the
    engine runs and a usable card (returned; None if it has none). Raises a one-line `WeightsError` or
    `ModelCardError` otherwise, so that commands fail in a second rather than after importing Keras."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    if path.name.endswith(".tflite") and engine != "tflite":
        raise WeightsError(f"{path} is a LiteRT/TFLite model, which only the tflite engine runs (--engine tflite)")
    if not path.name.endswith((*KERAS_SUFFIXES, ".tflite")):
        raise WeightsError(f"{path}: unknown weights format (expected .weights.h5, .keras, .h5 or .hdf5"
                           f"{', or .tflite' if engine == 'tflite' else ''})")
    if path.name.endswith((".h5", ".hdf5")) and not path.name.endswith(".weights.h5"):
        _legacy_layer_names(path)  # a readable Keras 2 file, not some other HDF5 or a renamed file
    card = read_card(path)
    if card is None and path.name.endswith(".weights.h5"):
        raise WeightsError(f"{path} is a Keras 3 weights file without its model card {card_path(path).name}")
    return card


def _load_model(path: Path, card: ModelCard | None) -> tuple[keras.Model, ModelCard]:
    """The model in a file `check_weights` passed, and its card (the community layout when it has none)."""
    import keras

    from nima_utils.model.network import build_from_card

    name = path.name
    try:
        if name.endswith(".keras"):
            model = keras.models.load_model(path, compile=False)
            card = card or community_card(padding="same")
        elif name.endswith(".weights.h5"):
            model = build_from_card(card)
            model.load_weights(path)
        else:  # .h5 / .hdf5, as check_weights made sure
            layer_names = _legacy_layer_names(path)
            if card is None:
                # Keras <= 2.1 MobileNet has a padding layer before every depthwise block.
                card = community_card(padding="symmetric" if "conv_pad_1" in layer_names else "same")
            model = build_from_card(card)
            model.load_weights(path)
    except WeightsError:
        raise
    except (ValueError, OSError, KeyError) as exc:
        raise WeightsError(f"could not load {path} as a {card.backbone if card else 'NIMA'} model: {exc}") from exc
    return model, card


def load_nima(path: str | Path) -> tuple[keras.Model, ModelCard]:
    """Load a NIMA model from a weights file of any supported origin, with its model card.

    Supported: this project's Keras 3 files (`.weights.h5` + card, or `.keras`) and the community's
    Keras 2 legacy h5 files (idealo's `weights_mobilenet_aesthetic_0.07.hdf5`, titu1994's
    `mobilenet_weights.h5`). A file without a card is read in the community layout.
    """
    path = Path(path)
    card = check_weights(path)
    with muted(expected=(WeightsError,)):  # TensorFlow's start-up lines; imported after the checks, which need none
        model, card = _load_model(path, card)
    card.fingerprint = fingerprint(model)
    return model, card


def save_nima(model: keras.Model, path: str | Path, card: ModelCard) -> Path:
    """Save weights in Keras 3 format (`*.weights.h5`) with their model card beside them."""
    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        raise ValueError(f"{path}: NIMA Lab saves weights as *.weights.h5")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(path)
    card.fingerprint = fingerprint(model)
    write_card(path, card)
    return path


def trained_weights(folder: str | Path | None = None) -> list[Path]:
    """Project-trained weights in `folder` (default weights/) and its run folders
    (`weights/<run>/*.weights.h5`), newest first."""
    folder = Path(folder) if folder is not None else weights_dir()
    found = [*folder.glob("*.weights.h5"), *folder.glob("*/*.weights.h5")]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _looks_like_keras21_mobilenet(path: Path) -> bool:
    """Cheap pre-check (layer names only) before loading a file to compare its fingerprint."""
    try:
        return "conv_pad_1" in _legacy_layer_names(path)
    except WeightsError:
        return False


def find_idealo(folder: str | Path | None = None) -> Path | None:
    """idealo's weights in `folder` (default weights/): under their published name, else any other
    `.h5`/`.hdf5` file whose card carries idealo's fingerprint, else one whose loaded tensors do."""
    folder = Path(folder) if folder is not None else weights_dir()
    named = folder / IDEALO_FILENAME
    if named.is_file():
        return named
    if not folder.is_dir():
        return None
    others = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith((".h5", ".hdf5"))
                    and not p.name.endswith(".weights.h5"))
    for path in others:
        try:
            card = read_card(path)
        except ValueError:
            continue
        if card is not None and card.fingerprint == IDEALO_FINGERPRINT:
            return path
    for path in others:
        if _looks_like_keras21_mobilenet(path) and _fingerprint_problem(path, IDEALO_FINGERPRINT) is None:
            return path
    return None


@dataclasses.dataclass(frozen=True)
class WeightsChoice:
    """A weights file and, in words, why it was chosen and what it learned from."""

    path: Path
    why: str
    labels: str = "unknown"

    def line(self) -> str:
        """One line for stderr: the file, why, and a warning when it learned synthetic labels."""
        warning = ("; CAUTION: trained on the demo's synthetic labels, its scores grade the demo's degradations, "
                   "not taste" if self.labels == "synthetic" else "")
        return f"weights {self.path} ({self.why}{warning})"


def _labels_of(path: Path) -> str:
    try:
        card = read_card(path)
    except ValueError:  # a bad card: loading it will say what is wrong
        return "unknown"
    return label_kind(card) if card is not None else "unknown"


def choose_weights(given: str | Path | None = None, folder: str | Path | None = None,
                   given_as: str = "given") -> WeightsChoice:
    """The weights to use and why: the file `given`; else, in `folder` (default weights/) and its run
    folders, a model trained on human votes (the newest project run, then idealo's), then project runs
    whose card does not say, and only then one trained on the demo's synthetic labels (see `label_kind`).
    `given_as` says how a given file was given ("given with --weights")."""
    if given:
        path = Path(given)
        return WeightsChoice(path, given_as, _labels_of(path) if path.is_file() else "unknown")
    folder = Path(folder) if folder is not None else weights_dir()
    runs = [(path, _labels_of(path)) for path in trained_weights(folder)]
    passed = [path for path, labels in runs if labels == "synthetic"]
    over = f"; passed over {len(passed)} run(s) trained on the demo's synthetic labels ({passed[0]})" if passed else ""
    human = [path for path, labels in runs if labels == "human"]
    if human:
        return WeightsChoice(human[0], f"the newest project run trained on human votes{over}", "human")
    idealo = find_idealo(folder)
    if idealo is not None:
        return WeightsChoice(idealo, f"idealo's AVA-trained weights (human votes){over}", "human")
    unknown = [path for path, labels in runs if labels == "unknown"]
    if unknown:
        return WeightsChoice(unknown[0], f"the newest project run; its card does not say what it learned from{over}")
    if passed:
        return WeightsChoice(passed[0], f"the only weights in {folder}: none there was trained on human votes "
                                        "(`make weights` fetches idealo's)", "synthetic")
    raise WeightsError(NO_WEIGHTS_HELP.format(dir=folder))


def default_weights(folder: str | Path | None = None) -> Path:
    """The weights `choose_weights` picks when none are given (say `.line()` of its answer to the user)."""
    return choose_weights(None, folder).path


def _fingerprint_problem(path: Path, expected: str | None = None) -> str | None:
    """None if `path` loads and its tensors have fingerprint `expected` (default: the one its card
    records, if any), else what is wrong."""
    try:
        if expected is None:
            card = read_card(path)
            expected = card.fingerprint if card is not None else ""
        _, loaded = load_nima(path)
    except (WeightsError, ValueError) as exc:
        return str(exc)
    if expected and loaded.fingerprint != expected:
        return f"fingerprint {loaded.fingerprint}, expected {expected}"
    return None


def verify_weights(path: str | Path) -> None:
    """Raise `WeightsError` unless `path` loads and its tensors match the fingerprint on its card."""
    problem = _fingerprint_problem(Path(path))
    if problem is not None:
        raise WeightsError(f"{path} is damaged or not what its card says ({problem})")


def _write_idealo_card(path: Path, source: str) -> None:
    card = community_card()
    card.fingerprint = IDEALO_FINGERPRINT
    card.source = source
    card.license = "Apache-2.0 (idealo/image-quality-assessment)"
    card.training_data = "AVA, idealo's training split; trained with nearest-neighbour 224x224 resize"
    card.notes = "idealo's published NIMA MobileNet aesthetic model (Keras 2.1.6 layout, symmetric padding)."
    write_card(path, card)


def ensure_idealo(folder: str | Path | None = None, url: str = IDEALO_URL, progress: bool = True) -> tuple[Path, str]:
    """Make sure `folder` holds idealo's verified weights: a present file (under any name, see
    `find_idealo`) is checked by fingerprint; a damaged one is moved aside as `*.rejected` and the
    weights are downloaded again. Returns the file and a sentence saying what was done."""
    folder = Path(folder) if folder is not None else weights_dir()
    found = find_idealo(folder)
    note = ""
    if found is not None:
        problem = _fingerprint_problem(found, IDEALO_FINGERPRINT)
        if problem is None:
            card = read_card(found)
            if card is None or card.fingerprint != IDEALO_FINGERPRINT:
                _write_idealo_card(found, IDEALO_URL if found.name == IDEALO_FILENAME else
                                   f"{IDEALO_URL} (found as {found.name}, recognised by fingerprint)")
            return found, f"idealo NIMA weights present and verified: {found}"
        rejected = found.with_name(found.name + ".rejected")
        found.replace(rejected)
        note = f"{found} was damaged ({problem}); moved aside as {rejected}. "
    path = fetch_idealo(folder, url=url, progress=progress)
    return path, f"{note}idealo NIMA weights downloaded and verified: {path}"


def fetch_idealo(folder: str | Path | None = None, url: str = IDEALO_URL, progress: bool = True) -> Path:
    """Download idealo's aesthetic MobileNet weights into `folder` (resumably), verify the loaded
    tensors against their known fingerprint and write the model card. Returns the file's path."""
    from nima_utils.data.download import download_file

    folder = Path(folder) if folder is not None else weights_dir()
    dest = folder / IDEALO_FILENAME
    download_file(url, dest, progress=progress)
    try:
        _, card = load_nima(dest)
        problem = None if card.fingerprint == IDEALO_FINGERPRINT else f"fingerprint {card.fingerprint}"
    except (WeightsError, ValueError) as exc:
        problem = str(exc)
    if problem is not None:
        rejected = dest.with_name(dest.name + ".rejected")
        dest.replace(rejected)
        raise WeightsError(
            f"{url} did not give idealo's weights ({problem}, expected {IDEALO_FINGERPRINT}); moved to {rejected}"
        )
    _write_idealo_card(dest, url)
    return dest
