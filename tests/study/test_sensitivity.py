"""Sensitivity studies: scores under photo edits and input settings, their aggregates and ranking."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nima_utils.model.engine import KerasEngine
from nima_utils.model.weights import fingerprint
from nima_utils.params import ParameterError
from nima_utils.scoring import score_images
from nima_utils.study import sensitivity
from nima_utils.study.perturbations import PERTURBATIONS
from tests import image_corpus
from tests.conftest import AVA

FEW = {"contrast": (0.5, 2.0), "blur": (2.0,), "jpeg": (10,), "noise": (20,)}


class CountingEngine:
    """Wraps an engine and records the size of every batch it is asked to score."""

    def __init__(self, engine):
        self.inner, self.card, self.weights, self.name, self.batches = engine, engine.card, engine.weights, "count", []

    def predict(self, batch):
        self.batches.append(len(batch))
        return self.inner.predict(batch)


@pytest.fixture(scope="module")
def tiny_engine(lively_weights):
    """A tiny model whose scores depend on the photo (see the `lively_weights` fixture)."""
    return KerasEngine(lively_weights)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return image_corpus.build(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def photos(corpus):
    found, skipped = sensitivity.load_photos([*sorted(corpus.glob("photo.*")), corpus / "truncated.jpg"])
    assert skipped == {"truncated.jpg": "truncated image file"}
    return found


def test_scores_every_variant_of_a_photo_in_one_batch_through_the_card(photos, tiny_engine, corpus):
    counting = CountingEngine(tiny_engine)
    scores = sensitivity.perturbation_scores(photos, counting, list(FEW), FEW, seed=3)
    variants = sum(len(set(f) | {PERTURBATIONS[n].identity}) for n, f in FEW.items())  # identity always added
    assert counting.batches == [variants] * len(photos)
    assert len(scores) == variants * len(photos)
    assert list(scores.columns) == ["image", "perturbation", "factor", "mean", "std"]
    assert scores["mean"].between(1, 10).all() and (scores["std"] > 0).all()
    # the unedited variant scores as `nima score` scores the file
    plain = {Path(r.source).name: r.mean for r in score_images([corpus / name for name in photos], tiny_engine)}
    at_one = scores[(scores.perturbation == "contrast") & (scores.factor == 1.0)].set_index("image")["mean"]
    for name, mean in plain.items():
        assert at_one[name] == pytest.approx(mean, abs=1e-4)
    # an edit does move a (random) model's score
    assert scores.groupby("image")["mean"].agg(np.ptp).gt(1e-4).all()


def test_unknown_perturbation_is_refused(photos, tiny_engine):
    with pytest.raises(ValueError, match="unknown perturbation 'vignette'"):
        sensitivity.perturbation_scores(photos, tiny_engine, ["contrast", "vignette"])


def test_aggregate_gives_means_changes_and_t_intervals(photos, tiny_engine):
    scores = sensitivity.perturbation_scores(photos, tiny_engine, ["contrast", "noise"], FEW)
    agg = sensitivity.aggregate(scores)
    assert list(agg.perturbation.unique()) == ["contrast", "noise"]
    assert agg[agg.perturbation == "contrast"].factor.tolist() == [0.5, 1.0, 2.0]
    assert (agg["n"] == len(photos)).all()
    assert ((agg.ci_low <= agg["mean"]) & (agg["mean"] <= agg.ci_high)).all()
    identity = agg[agg.factor == agg.perturbation.map(lambda n: PERTURBATIONS[n].identity)]
    assert (identity.change == 0).all()
    row = agg[(agg.perturbation == "contrast") & (agg.factor == 2.0)].iloc[0]
    one = scores[(scores.perturbation == "contrast")].pivot(index="image", columns="factor", values="mean")
    diffs = one[2.0] - one[1.0]
    assert row.change == pytest.approx(diffs.mean())
    from scipy import stats

    half = stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))
    assert (row.change_ci_low, row.change_ci_high) == pytest.approx((diffs.mean() - half, diffs.mean() + half))


def test_input_study_compares_every_resize_and_padding_with_the_card(photos, tiny_engine):
    inputs = sensitivity.input_scores(photos, tiny_engine)
    assert len(inputs) == len(photos) * (4 + 2)
    card = inputs[inputs.card]
    assert set(zip(card.perturbation, card.setting, strict=True)) == {("resize", "bilinear"), ("padding", "same")}
    table = inputs.pivot_table(index="image", columns=["perturbation", "setting"], values="mean")
    assert (table[("resize", "bilinear")] == table[("padding", "same")]).all()  # both are the card's own setting
    assert (table[("padding", "symmetric")] - table[("padding", "same")]).abs().max() > 1e-5
    assert (table[("resize", "nearest")] - table[("resize", "bilinear")]).abs().max() > 1e-5


def test_padding_engines_share_every_tensor(tiny_engine):
    engines = sensitivity.padding_engines(tiny_engine)
    assert set(engines) == {"same", "symmetric"} and engines["same"] is tiny_engine
    assert engines["symmetric"].card.padding == "symmetric"
    assert fingerprint(engines["symmetric"].model) == fingerprint(tiny_engine.model)


def test_ranking_lists_every_perturbation_and_input_by_effect(photos, tiny_engine):
    scores = sensitivity.perturbation_scores(photos, tiny_engine, factors=FEW)
    inputs = sensitivity.input_scores(photos, tiny_engine)
    table = sensitivity.ranking(scores, inputs)
    assert set(table.perturbation) == {*PERTURBATIONS, "resize", "padding"}
    assert table.index.tolist() == list(range(1, len(table) + 1))
    assert table["range"].is_monotonic_decreasing
    row = table.set_index("perturbation").loc["contrast"]
    means = sensitivity.aggregate(scores).query("perturbation == 'contrast'")["mean"]
    assert row["range"] == pytest.approx(means.max() - means.min())
    assert row["kind"] == "photo edit" and table.set_index("perturbation").loc["resize", "identity"] == "bilinear"
    assert (table.mean_abs_change > 0).all()


def test_study_images_from_a_folder_or_notebook_01_summary(tmp_path, corpus):
    folder = sensitivity.study_images(corpus, "", max_images=100).paths
    assert len(folder) == len(list(corpus.iterdir()))
    few = sensitivity.study_images(corpus, "", max_images=3, seed=1)
    assert len(few.paths) == 3 and few.paths == sensitivity.study_images(corpus, "", max_images=3, seed=1).paths
    assert few.paths == sorted(few.paths) and "a seeded sample of 3 of" in few.described
    splits = tmp_path / "splits"
    splits.mkdir()
    pd.DataFrame({"image_id": ["0042", "7"]}).to_csv(splits / "test.csv", index=False)
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"images_dir": str(tmp_path / "img"), "splits": {"dir": str(splits)}}))
    img = tmp_path / "img"
    assert sensitivity.study_images("", summary, 12).paths == [img / "0042.jpg", img / "7.jpg"]


def test_a_demo_test_split_gives_one_unedited_version_of_each_photo(tmp_path):
    """The demo's test split holds every version of a few photos: a study takes each photo once."""
    ids = [str(1_000_001 + i) for i in range(6)]
    edits = ["blur", "none", "noise", "jpeg", "contrast", "none"]
    meta = pd.DataFrame({"image_id": ids, "photo": ["camera"] * 3 + ["moon"] * 3, "perturbation": edits})
    (tmp_path / "data" / "demo_source_seed0").mkdir(parents=True)
    meta.to_csv(tmp_path / "data" / "demo_source_seed0" / "demo_meta.csv", index=False)
    images = tmp_path / "data" / "ava_demo_seed0" / "images"
    splits = tmp_path / "splits"
    splits.mkdir()
    pd.DataFrame({"image_id": ids, "mean": [4.0, 6.0, 3.0, 5.0, 4.0, 5.5]}).to_csv(splits / "test.csv", index=False)
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"source": "demo", "seed": 0, "images_dir": str(images),
                                   "splits": {"dir": str(splits)}}))
    sample = sensitivity.study_images("", summary, 12)
    assert sample.paths == [images / "1000002.jpg", images / "1000006.jpg"]
    assert "each of its 2 source photos (4 edited versions left out)" in sample.described
    # a split with a group column (and no edits recorded) takes the version people scored highest
    grouped = pd.DataFrame({"image_id": ids, "group": ["a", "a", "b", "b", "b", "c"],
                            "mean": [4.0, 6.0, 3.0, 5.0, 4.0, 5.5]})
    assert sensitivity.source_photos(grouped).to_dict("list") == {"image_id": ["1000002", "1000004", "1000006"],
                                                                  "group": ["a", "b", "c"]}
    # without groups every image is a photo of its own
    assert list(sensitivity.source_photos(grouped[["image_id"]])["image_id"]) == ids


def test_perturbations_that_change_no_photo_are_named_with_why():
    color = image_corpus.photo()
    grey = color.convert("L").convert("RGB")
    assert sensitivity.inert_perturbations({"a": color}) == {}
    inert = sensitivity.inert_perturbations({"a": grey, "b": grey.rotate(90)})
    assert inert == {"saturation": "changes none of the 2 photos at any factor (every photo is grey)"}
    assert sensitivity.inert_perturbations({"a": grey, "b": color}, ["saturation", "blur"]) == {}


def test_check_parameters_names_every_problem(tmp_path, corpus):
    def problems(*values):
        return sensitivity.SensitivityParameters(*values).problems()

    assert problems("", str(corpus), "", 12, [], 0) == []
    sensitivity.check_parameters("", str(corpus), "", 12, [], 0)
    (tmp_path / "empty").mkdir()
    found = problems(str(tmp_path / "nope.h5"), str(tmp_path / "empty"), "", 0, ["contrast", "vignette"], "x")
    assert [p.split(":")[0] for p in found] == ["weights", "images", "max_images", "perturbations", "seed"]
    assert "vignette" in found[3] and "available: contrast" in found[3]
    with pytest.raises(ParameterError) as failure:
        sensitivity.check_parameters(str(tmp_path / "nope.h5"), str(tmp_path / "empty"), "", 0, ["vignette"], "x")
    assert len(failure.value.problems) == 5 and "\n  - seed: must be" in str(failure.value)
    missing = problems("", "", tmp_path / "summary.json", 12, "contrast", 0)
    assert "run notebooks/01_ava_download_cleanup.ipynb first" in missing[0] and "images=FOLDER" in missing[0]
    assert missing[1].startswith("perturbations: must be a list")
    (tmp_path / "bad.json").write_text("{}")
    assert "lacks 'images_dir'" in problems("", "", tmp_path / "bad.json", 1, [], 0)[0]


def test_default_weights_find_idealo_under_another_name_before_a_run(tmp_path, tiny_weights, idealo_weights):
    """As scoring and the pipeline's weights check do: by fingerprint, whatever the file is called."""
    import shutil

    from nima_utils.model.weights import choose_weights

    run = tmp_path / "run1"
    run.mkdir()
    (run / "tiny.weights.h5").write_bytes(tiny_weights.read_bytes())
    shutil.copy(idealo_weights, tmp_path / "aesthetic.hdf5")
    chosen = choose_weights(None, tmp_path)
    assert chosen.path == tmp_path / "aesthetic.hdf5" and "idealo" in chosen.why


def test_idealo_on_the_five_real_ava_photos(idealo_engine):
    """What idealo's AVA-trained weights do under each edit (observed: lower contrast, blur, coarse
    JPEG, noise and any resize but the card's nearest-neighbour all lower the mean score)."""
    images = sorted((AVA / "images").glob("*.jpg"))
    photos, skipped = sensitivity.load_photos(images)
    assert len(photos) == 5 and not skipped
    scores = sensitivity.perturbation_scores(photos, idealo_engine)
    inputs = sensitivity.input_scores(photos, idealo_engine)
    table = sensitivity.ranking(scores, inputs).set_index("perturbation")
    assert set(table.index) == {*PERTURBATIONS, "resize", "padding"}
    assert (table.n_images == 5).all()
    contrast = sensitivity.trend(scores, "contrast")
    assert contrast["change_at_lowest"] < -0.4 and contrast["spearman_factor_vs_score"] > 0.5
    agg = sensitivity.aggregate(scores).set_index(["perturbation", "factor"])
    assert agg.loc[("blur", 2.0), "change"] < -0.5
    assert agg.loc[("jpeg", 5.0), "change"] < -0.5
    assert agg.loc[("noise", 40.0), "change"] < -0.2
    resize = sensitivity.aggregate(inputs, "setting", {"resize": "nearest", "padding": "symmetric"})
    resize = resize[resize.perturbation == "resize"].set_index("setting")["change"]
    assert (resize.drop("nearest") < -0.2).all()
