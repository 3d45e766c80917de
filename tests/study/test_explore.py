"""Notebook 05's logic: edits from slider settings, what the model sees, the prediction, the menus."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nima_utils.images import ImageLoadError
from nima_utils.model.card import ModelCard
from nima_utils.study import explore
from nima_utils.study.perturbations import PERTURBATIONS
from tests.image_corpus import photo


class BrightnessEngine:
    """Scores brighter inputs higher (the mean of its [-1, 1] input moves mass from bucket 1 to 10);
    records each batch it is given."""

    name = "fake"
    weights = Path("fake.weights.h5")

    def __init__(self, resize_size=None):
        self.card = ModelCard(input_size=32, resize="bilinear", resize_size=resize_size)
        self.batches = []

    def predict(self, batch):
        self.batches.append(batch)
        level = (batch.mean(axis=(1, 2, 3)) + 1) / 2  # 0 (black) .. 1 (white)
        probs = np.zeros((len(batch), 10))
        probs[:, 0], probs[:, 9] = 1 - level, level
        return probs


def test_edits_at_their_identity_leave_the_photo_alone_and_others_follow_the_registry_order():
    img = photo()
    assert np.array_equal(np.asarray(explore.edit(img, {n: p.identity for n, p in PERTURBATIONS.items()})),
                          np.asarray(img.convert("RGB")))
    both = explore.edit(img, {"noise": 10.0, "contrast": 0.5}, seed=2)
    by_hand = PERTURBATIONS["noise"](PERTURBATIONS["contrast"](img, 0.5), 10.0, seed=2)
    assert np.array_equal(np.asarray(both), np.asarray(by_hand))
    with pytest.raises(ValueError, match="unknown edit vignette"):
        explore.edit(img, {"vignette": 1.0})


def test_explore_scores_the_edited_photo_as_the_card_says():
    engine = BrightnessEngine(resize_size=40)
    dark, bright = explore.explore_many(photo(), engine, (explore.Settings("dark", {"brightness": 0.4}),
                                                          explore.Settings("bright", {"brightness": 2.0}, "nearest")))
    assert len(engine.batches) == 1 and engine.batches[0].shape == (2, 32, 32, 3)  # one batch, the card's size
    assert dark.view.shape == (32, 32, 3) and dark.view.dtype == np.uint8
    assert (dark.resize, bright.resize) == ("bilinear", "nearest")
    assert 1.0 <= dark.mean < bright.mean <= 10.0 and dark.std > 0
    assert dark.mean == pytest.approx(float(dark.probs @ np.arange(1, 11)))
    assert dark.edited.size == photo().size  # the photo is edited at its own size, before the model's resize
    with pytest.raises(ValueError, match="unknown resize method 'area'"):
        explore.explore(photo(), engine, explore.Settings(resize="area"))


def test_slider_ranges_span_the_registrys_factors():
    for name, p in PERTURBATIONS.items():
        low, high, step = explore.slider_range(name)
        assert low <= p.identity <= high and low == min(p.factors) and high == max(p.factors) and step > 0


def test_uploaded_photo_reads_the_newest_file_and_refuses_garbage():
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(buf, "PNG")
    name, img = explore.uploaded_photo(({"name": "old.txt", "content": b"x"},
                                        {"name": "new.png", "content": memoryview(buf.getvalue())}))
    assert name == "new.png" and img.size == (40, 30) and img.mode == "RGB"
    with pytest.raises(ImageLoadError, match="no file uploaded"):
        explore.uploaded_photo(())
    with pytest.raises(ImageLoadError):
        explore.uploaded_photo(({"name": "a.jpg", "content": b"not an image"},))


def test_model_choices_list_the_given_file_idealo_and_the_runs(tmp_path, idealo_weights):
    import shutil

    (tmp_path / "demo").mkdir()
    run = tmp_path / "demo" / "nima.weights.h5"
    run.write_bytes(b"")
    shutil.copy(idealo_weights, tmp_path / "weights_mobilenet_aesthetic_0.07.hdf5")
    choices = explore.model_choices("/elsewhere/mine.weights.h5", tmp_path)
    assert list(choices.values()) == [Path("/elsewhere/mine.weights.h5"),
                                      tmp_path / "weights_mobilenet_aesthetic_0.07.hdf5", run]
    assert list(choices)[2] == "run demo: nima.weights.h5"


def test_parameter_problems_name_each_bad_value(tmp_path):
    bad = explore.ExploreParameters(weights="/nowhere.h5", images=str(tmp_path / "none"), max_images=0,
                                    saliency_images=-1, seed="x")
    problems = bad.setting_problems()
    assert [p.split(":")[0] for p in problems] == ["weights", "images", "max_images", "seed", "saliency_images"]
    assert explore.ExploreParameters(max_images=3, saliency_images=0, seed=1).setting_problems() == []
    with pytest.raises(ValueError, match="saliency_images: must be a whole number"):
        explore.check_parameters("", str(tmp_path), "", 3, -1, 0)
