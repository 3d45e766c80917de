"""Sensitivity studies: how a NIMA model's mean score moves when a photo is edited, or when the
photo is fed to the model another way (resize interpolation, padding layout).

Every variant goes through the model card's view of the photo (`scoring.model_input`), as a
scored upload does, so the only thing that changes is the edit.
All variants of one photo are scored in one batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from PIL import Image

from nima_utils.data.cleanup import image_path
from nima_utils.data.summary import read_data_summary
from nima_utils.images import ImageLoadError, find_images, load_image
from nima_utils.model.card import PADDINGS, RESIZE_METHODS
from nima_utils.model.engine import Engine, KerasEngine
from nima_utils.model.metrics import mean_score, std_score
from nima_utils.params import Parameters
from nima_utils.scoring import model_input
from nima_utils.study.perturbations import PERTURBATIONS, Perturbation, get

INPUT_STUDIES = ("resize", "padding")
"""How the photo is fed to the model, studied beside the photo edits: identity is the card's setting."""


def load_photos(paths: Iterable[str | Path]) -> tuple[dict[str, Image.Image], dict[str, str]]:
    """Load photos as RGB, keyed by file name (the path where names repeat); unreadable ones are
    returned apart with the reason, so one bad file does not stop a study."""
    paths = [Path(p) for p in paths]
    names = [p.name for p in paths]
    keys = [p.name if names.count(p.name) == 1 else str(p) for p in paths]
    photos: dict[str, Image.Image] = {}
    skipped: dict[str, str] = {}
    for key, path in zip(keys, paths, strict=True):
        try:
            photos[key] = load_image(path)
        except ImageLoadError as exc:
            skipped[key] = str(exc)
    return photos, skipped


def _selected(names: Sequence[str] | None) -> list[Perturbation]:
    return [get(n) for n in (names or PERTURBATIONS)]


def _rows(image: str, labels: list[tuple[str, object]], probs: np.ndarray, key: str) -> list[dict]:
    means, stds = np.atleast_1d(mean_score(probs)), np.atleast_1d(std_score(probs))
    return [{"image": image, "perturbation": name, key: level, "mean": float(m), "std": float(s)}
            for (name, level), m, s in zip(labels, means, stds, strict=True)]


def perturbation_scores(
    photos: dict[str, Image.Image],
    engine: Engine,
    perturbations: Sequence[str] | None = None,
    factors: dict[str, Sequence[float]] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Score every photo under each perturbation (default: all) at each factor (default: the
    registry's range; the identity factor is always added). One row per (image, perturbation,
    factor): mean and std of the predicted score distribution. All variants of a photo go to the
    engine in one batch."""
    chosen = _selected(perturbations)
    factors = factors or {}
    rows: list[dict] = []
    for image, img in photos.items():
        labels, batch = [], []
        for p in chosen:
            for f in sorted({*factors.get(p.name, p.factors), p.identity}):
                labels.append((p.name, float(f)))
                batch.append(model_input(p(img, f, seed=seed), engine.card))
        rows += _rows(image, labels, engine.predict(np.stack(batch)), "factor")
    return pd.DataFrame(rows, columns=["image", "perturbation", "factor", "mean", "std"])


def padding_engines(engine: Engine) -> dict[str, Engine]:
    """The engine's weights in each padding layout (MobileNet only: others have the card's alone).

    The layouts share every tensor; only where stride-2 convolutions pad differs (see `model.build_nima`)."""
    from nima_utils.model.network import build_from_card
    from nima_utils.model.weights import load_nima

    card = engine.card
    if card.backbone != "mobilenet":
        return {card.padding: engine}
    model = getattr(engine, "model", None)
    if model is None:
        model, card = load_nima(engine.weights)
    out: dict[str, Engine] = {}
    for padding in PADDINGS:
        if padding == engine.card.padding:
            out[padding] = engine
            continue
        other = dataclasses.replace(card, padding=padding)
        rebuilt = build_from_card(other)
        rebuilt.set_weights(model.get_weights())
        out[padding] = KerasEngine(engine.weights, model=rebuilt, card=other)
    return out


def input_scores(photos: dict[str, Image.Image], engine: Engine, batch_size: int = 32) -> pd.DataFrame:
    """Score every photo with each resize interpolation and each padding layout, all else as the
    card says. One row per (image, study, setting); `card` marks the card's own setting."""
    card = engine.card
    rows: list[dict] = []
    for image, img in photos.items():
        batch = np.stack([model_input(img, card, method) for method in RESIZE_METHODS])
        rows += _rows(image, [("resize", m) for m in RESIZE_METHODS], engine.predict(batch), "setting")
    inputs = {image: model_input(img, card) for image, img in photos.items()}
    names = list(inputs)
    for padding, eng in padding_engines(engine).items():
        for start in range(0, len(names), batch_size):
            chunk = names[start : start + batch_size]
            probs = eng.predict(np.stack([inputs[n] for n in chunk]))
            for n, prob in zip(chunk, probs, strict=True):
                rows += _rows(n, [("padding", padding)], prob[None], "setting")
    df = pd.DataFrame(rows, columns=["image", "perturbation", "setting", "mean", "std"])
    df["card"] = [s == (card.resize if p == "resize" else card.padding) for p, s in zip(df.perturbation, df.setting,
                                                                                          strict=True)]
    return df


def _t_interval(values: pd.Series, level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of `values` (NaN for fewer than two)."""
    v = values.dropna().to_numpy(dtype=float)
    if len(v) < 2:
        return float("nan"), float("nan")
    from scipy import stats  # here: seconds to import, and the pipeline checks parameters through this module

    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def changes(scores: pd.DataFrame, level: str = "factor", identity: dict[str, object] | None = None) -> pd.Series:
    """Each row's mean score minus the same photo's score at the identity of its perturbation
    (the registry's identity factor, or `identity[name]`)."""
    identity = identity or {n: p.identity for n, p in PERTURBATIONS.items()}
    at_identity = scores[[identity[p] == v for p, v in zip(scores.perturbation, scores[level], strict=True)]]
    base = at_identity.set_index(["perturbation", "image"])["mean"]
    keys = pd.MultiIndex.from_arrays([scores.perturbation, scores.image])
    return pd.Series(scores["mean"].to_numpy() - base.reindex(keys).to_numpy(), index=scores.index, name="change")


def aggregate(scores: pd.DataFrame, level: str = "factor", identity: dict[str, object] | None = None,
              confidence: float = 0.95) -> pd.DataFrame:
    """Per (perturbation, factor): photos, the average mean score with its t confidence interval,
    and the average change from the identity with its (paired) interval."""
    df = scores.assign(change=changes(scores, level, identity))
    rows = []
    for (name, value), g in df.groupby(["perturbation", level], sort=False):
        low, high = _t_interval(g["mean"], confidence)
        dlow, dhigh = _t_interval(g["change"], confidence)
        rows.append({"perturbation": name, level: value, "n": len(g), "mean": g["mean"].mean(), "ci_low": low,
                     "ci_high": high, "change": g["change"].mean(), "change_ci_low": dlow, "change_ci_high": dhigh})
    out = pd.DataFrame(rows)
    if level == "factor":
        out = out.sort_values(["perturbation", "factor"], key=lambda s: s.map(_order) if s.name == "perturbation"
                              else s, kind="stable").reset_index(drop=True)
    return out


def _order(name: str) -> int:
    order = [*PERTURBATIONS, *INPUT_STUDIES]
    return order.index(name) if name in order else len(order)


def ranking(scores: pd.DataFrame, inputs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The perturbations (and input studies) ranked by effect on the mean score: the range of the
    averaged mean score across the levels studied, the mean absolute change from identity over
    photos and non-identity levels, and the levels that lowered and raised the average most.
    Effect sizes depend on the ranges studied: a wider range moves scores further."""
    parts = [(scores, "factor", {n: p.identity for n, p in PERTURBATIONS.items()}, "photo edit")]
    if inputs is not None and len(inputs):
        card_setting = inputs[inputs["card"]].groupby("perturbation")["setting"].first().to_dict()
        parts.append((inputs, "setting", card_setting, "model input"))
    rows = []
    for df, level, identity, kind in parts:
        df = df.assign(change=changes(df, level, identity))
        for name, g in df.groupby("perturbation", sort=False):
            avg = g.groupby(level, sort=False)["change"].mean()
            means = g.groupby(level, sort=False)["mean"].mean()
            moved = g[g[level] != identity[name]]
            rows.append({
                "perturbation": name, "kind": kind, "identity": identity[name],
                "levels": ", ".join(fmt_level(v) for v in avg.index), "n_images": g["image"].nunique(),
                "range": float(means.max() - means.min()),
                "mean_abs_change": float(moved["change"].abs().mean()) if len(moved) else 0.0,
                "lowest_at": avg.idxmin(), "lowest_change": float(avg.min()),
                "highest_at": avg.idxmax(), "highest_change": float(avg.max()),
            })
    table = pd.DataFrame(rows).sort_values("range", ascending=False, kind="stable").reset_index(drop=True)
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    return table


def fmt_level(value: object) -> str:
    """A factor or setting as a short label: 2.0 -> "2", "nearest" -> "nearest"."""
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def trend(scores: pd.DataFrame, name: str) -> dict[str, float]:
    """How one perturbation moves the averaged score: change at its lowest and highest factor and
    Spearman's rho between factor and averaged mean score."""
    agg = aggregate(scores[scores.perturbation == name])
    from scipy import stats

    rho = stats.spearmanr(agg["factor"], agg["mean"]).statistic if len(agg) > 2 else float("nan")
    return {"change_at_lowest": float(agg["change"].iloc[0]), "change_at_highest": float(agg["change"].iloc[-1]),
            "spearman_factor_vs_score": float(rho)}


@dataclasses.dataclass
class StudySample:
    """The photos of a study and, in words, where they come from."""

    paths: list[Path]
    described: str


def source_photos(table: pd.DataFrame, versions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per source photo of a labelled split: the image_id of its unedited version and its group.

    A photo's versions share a `group` (the split's column where present, else the demo's `photo`
    from `versions`, else each image is its own photo). The unedited version is the one whose
    `perturbation` is "none" where that is known, else the version people scored highest (the demo's
    edits only lower the score). Edited versions of one photo are not independent photos."""
    t = table[["image_id", *[c for c in ("group", "perturbation", "mean") if c in table]]].copy()
    if versions is not None:
        extra = [c for c in ("photo", "perturbation") if c in versions and c not in t]
        t = t.merge(versions[["image_id", *extra]], on="image_id", how="left")
    key = next((c for c in ("group", "photo") if c in t), "image_id")
    t["group"] = t[key].fillna(t["image_id"]).astype(str)
    if "perturbation" in t:
        t = t[t["perturbation"].fillna("none") == "none"]
    elif "mean" in t and key != "image_id":
        t = t.sort_values("mean", ascending=False, kind="stable")
    return t.drop_duplicates("group").sort_index()[["image_id", "group"]].reset_index(drop=True)


def study_images(images: str | Path, data_summary: str | Path, max_images: int, seed: int = 0) -> StudySample:
    """The photos of a study: those in the folder `images`, or ("") the unedited version of each source
    photo of the test split that notebook 01 recorded in `data_summary` (see `source_photos`); at most
    `max_images` photos, a seeded sample when there are more."""
    if str(images):
        found = [p for p in find_images([images]) if p.is_file()]
        where = f"the folder {images}"
    else:
        from nima_utils.data.sources import demo_versions

        data = read_data_summary(data_summary)
        test = pd.read_csv(data.split_csv("test"), dtype={"image_id": str})
        versions = demo_versions(data.images_dir, data.seed) if data.source == "demo" else None
        photos = source_photos(test, versions)
        found = [image_path(data.images_dir, i) for i in photos["image_id"]]
        where = f"the test split of {data_summary}"
        if len(photos) < len(test):
            where += (f": the unedited version of each of its {len(photos)} source photos "
                      f"({len(test) - len(photos)} edited versions left out)")
    total = len(found)
    if total > max_images:
        keep = np.random.default_rng(seed).choice(total, max_images, replace=False)
        found = [found[i] for i in sorted(keep)]
        where += f"; a seeded sample of {max_images} of {total}"
    return StudySample(found, where)


def _acts_on(p: Perturbation, img: Image.Image, seed: int) -> bool:
    """Whether `p` changes `img` (by more than rounding) at some factor of its range."""
    same = np.asarray(p(img, p.identity, seed=seed), dtype=np.int16)
    return any(np.abs(np.asarray(p(img, f, seed=seed), dtype=np.int16) - same).max() > 1
               for f in p.factors if f != p.identity)


def _is_grey(img: Image.Image) -> bool:
    arr = np.asarray(img.convert("RGB"), dtype=np.int16)
    return bool(np.abs(arr - arr[..., :1]).max() <= 1)


def inert_perturbations(photos: dict[str, Image.Image], names: Sequence[str] | None = None, seed: int = 0,
                        side: int = 128) -> dict[str, str]:
    """The perturbations that change none of the photos at any factor of their range (saturation on
    grey photos), with why: a study of them would rank a non-effect. Checked on `side`-px thumbnails."""
    thumbs = []
    for img in photos.values():
        small = img.convert("RGB")
        small.thumbnail((side, side))
        thumbs.append(small)
    inert = {}
    for p in _selected(names):
        if thumbs and not any(_acts_on(p, img, seed) for img in thumbs):
            grey = " (every photo is grey)" if all(_is_grey(img) for img in thumbs) else ""
            inert[p.name] = f"changes none of the {len(thumbs)} photos at any factor{grey}"
    return inert


@dataclasses.dataclass
class SensitivityParameters(Parameters):
    """Notebook 04's parameters: the photos come from `images`, else from the test split of `data_summary`."""

    title: ClassVar[str] = "notebook 04 (sensitivity) parameters"

    weights: str = ""
    images: str = ""
    data_summary: str | Path = ""
    max_images: int = 12
    perturbations: list[str] = dataclasses.field(default_factory=list)
    seed: int = 0

    def _source_problems(self) -> list[str]:
        problems = []
        if self.weights and not Path(self.weights).is_file():
            problems.append(f"weights: no such file {self.weights}")
        if self.images:
            folder = Path(self.images)
            if not folder.is_dir():
                problems.append(f"images: {self.images} is not a folder")
            elif not find_images([folder]):
                problems.append(f"images: no image files in {self.images}")
        return problems

    def _value_problems(self) -> list[str]:
        problems = []
        max_images, perturbations, seed = self.max_images, self.perturbations, self.seed
        if isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1:
            problems.append(f"max_images: must be a whole number >= 1, got {max_images!r}")
        if not isinstance(perturbations, (list, tuple)) or not all(isinstance(p, str) for p in perturbations):
            problems.append(f"perturbations: must be a list of names ([] = all), got {perturbations!r}")
        else:
            unknown = [p for p in perturbations if p not in PERTURBATIONS]
            if unknown:
                problems.append(f"perturbations: unknown {', '.join(unknown)}; available: {', '.join(PERTURBATIONS)}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            problems.append(f"seed: must be a whole number, got {seed!r}")
        return problems

    def setting_problems(self) -> list[str]:
        """The problems that need no prepared data to see."""
        return self._source_problems() + self._value_problems()

    def data_problems(self) -> list[str]:
        """Notebook 01's summary and its test split, unless a folder of photos is given."""
        if self.images:
            return []
        path = Path(self.data_summary)
        try:
            data = read_data_summary(path)
        except ValueError as exc:
            hint = "" if path.is_file() else " (or pass images=FOLDER)"
            return [f"data_summary: {exc}{hint}"]
        if not data.split_csv("test").is_file():
            return [f"data_summary: the test split {data.split_csv('test')} is missing"]
        return []

    def problems(self) -> list[str]:
        """Every problem, in the order of the parameters."""
        return self._source_problems() + self.data_problems() + self._value_problems()


def check_parameters(weights: str, images: str, data_summary: str | Path, max_images: object,
                     perturbations: object, seed: object) -> None:
    """Validate the sensitivity notebook's parameters: one `ParameterError` (a ValueError) naming every problem."""
    SensitivityParameters(weights, images, data_summary, max_images, perturbations, seed).check()  # type: ignore[arg-type]
