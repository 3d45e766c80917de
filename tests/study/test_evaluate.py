"""Evaluation: metrics and their bootstrap intervals on cases checkable by hand, the baselines,
parameter validation, and predictions fed as the card prescribes (from images or the cache)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nima_utils.data.ava import distributions
from nima_utils.data.cache import build_cache
from nima_utils.data.summary import read_data_summary
from nima_utils.model import metrics
from nima_utils.model.card import ModelCard
from nima_utils.scoring import prepare
from nima_utils.study import evaluate, evaluation_metrics, evaluation_report
from tests import image_corpus


def one_hot(i: int) -> np.ndarray:
    p = np.zeros(10)
    p[i - 1] = 1.0
    return p


def random_dists(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(10) * 2, size=n)


def test_perfect_predictor_scores_perfectly_with_degenerate_intervals():
    true = random_dists(0, 200)
    result = evaluation_metrics.bootstrap_metrics(true, true, n_resamples=300, seed=0)
    assert result["emd"] == {"value": 0.0, "low": 0.0, "high": 0.0}
    for name in ("srcc_mean", "lcc_mean", "srcc_std", "lcc_std", "accuracy@5.0", "accuracy@5.1"):
        assert result[name]["value"] == pytest.approx(1.0)
        assert result[name]["low"] == pytest.approx(1.0) and result[name]["high"] == pytest.approx(1.0)


def test_hand_computed_one_hot_case():
    # Means 3, 7, 6, 4 predicted as 4, 6, 6, 6: EMD sqrt(1/10) for each image one bucket off, 0 for the exact one.
    true = np.stack([one_hot(3), one_hot(7), one_hot(6), one_hot(4)])
    pred = np.stack([one_hot(4), one_hot(6), one_hot(6), one_hot(6)])
    result = evaluation_metrics.bootstrap_metrics(pred, true, n_resamples=0)
    assert result["emd"]["value"] == pytest.approx((np.sqrt(0.1) * 2 + 0 + np.sqrt(0.2)) / 4)
    # sides of 5: true (no, yes, yes, no), predicted (no, yes, yes, yes) -> 3 of 4
    assert result["accuracy@5.0"]["value"] == pytest.approx(0.75)
    assert result["lcc_mean"]["value"] == pytest.approx(np.corrcoef([4, 6, 6, 6], [3, 7, 6, 4])[0, 1])
    assert result["emd"]["low"] is None and result["emd"]["high"] is None  # no resamples, no interval


def test_constant_predictor_has_no_correlation_and_answers_one_side():
    true = random_dists(1, 100)
    const = np.tile(one_hot(7), (100, 1))  # mean 7: always "above"
    result = evaluation_metrics.bootstrap_metrics(const, true, n_resamples=200, seed=0)
    for name in ("srcc_mean", "lcc_mean", "srcc_std", "lcc_std"):
        assert result[name] == {"value": None, "low": None, "high": None}
    tm = metrics.mean_score(true)
    assert result["accuracy@5.0"]["value"] == pytest.approx(np.mean(tm > 5.0))
    assert result["emd"]["value"] == pytest.approx(metrics.emd(const, true).mean())


def test_point_values_match_scipy_metrics_with_ties():
    true = random_dists(2, 300)
    pred = np.round(random_dists(3, 300), 1)  # rounding makes tied means and stds
    pred /= pred.sum(axis=1, keepdims=True)
    got = evaluation_metrics.bootstrap_metrics(pred, true, n_resamples=0)
    want = metrics.evaluate(pred, true)
    for name in ("emd", "srcc_mean", "lcc_mean", "srcc_std", "lcc_std"):
        assert got[name]["value"] == pytest.approx(want[name], abs=1e-12)
    assert got["accuracy@5.0"]["value"] == pytest.approx(want["accuracy@5.0"])
    assert got["accuracy@5.1"]["value"] == pytest.approx(want["accuracy@5.1"])


def test_resample_ranks_are_spearman_average_ranks():
    import scipy.stats

    rng = np.random.default_rng(10)
    values = np.round(rng.normal(size=300), 1)  # many ties
    idx = rng.integers(0, 300, size=(40, 300))
    np.testing.assert_array_equal(evaluation_metrics._resample_ranks(values, idx),
                                  scipy.stats.rankdata(values[idx], axis=1))


def test_bootstrap_interval_of_an_accuracy_matches_the_normal_approximation():
    rng = np.random.default_rng(4)
    n = 2000
    true = random_dists(5, n)
    tm = metrics.mean_score(true)
    # predict the right side of 5.0 for a random 70% of the images
    right = rng.random(n) < 0.7
    side = np.where((tm > 5.0) == right, 7, 3)
    pred = np.stack([one_hot(int(s)) for s in side])
    result = evaluation_metrics.bootstrap_metrics(pred, true, n_resamples=2000, seed=0)["accuracy@5.0"]
    p = result["value"]
    half = 1.96 * np.sqrt(p * (1 - p) / n)
    assert result["low"] == pytest.approx(p - half, abs=0.0015)
    assert result["high"] == pytest.approx(p + half, abs=0.0015)


def test_bootstrap_is_seeded_and_contains_the_estimate():
    true, pred = random_dists(6, 150), random_dists(7, 150)
    a = evaluation_metrics.bootstrap_metrics(pred, true, n_resamples=200, seed=1)
    assert a == evaluation_metrics.bootstrap_metrics(pred, true, n_resamples=200, seed=1)
    assert a != evaluation_metrics.bootstrap_metrics(pred, true, n_resamples=200, seed=2)
    for entry in a.values():
        assert entry["low"] <= entry["value"] <= entry["high"]


def test_bootstrap_is_fast_on_an_ava_sized_test_split():
    import time

    true, pred = random_dists(8, 20_000), random_dists(9, 20_000)
    start = time.monotonic()
    evaluation_metrics.bootstrap_metrics(pred, true, n_resamples=1000, seed=0)
    assert time.monotonic() - start < 30  # about 3.5 s on one core


def test_trivial_baseline_and_majority_class():
    train = np.stack([one_hot(6), one_hot(6), one_hot(4)])  # mean distribution: 2/3 on 6, 1/3 on 4
    base = metrics.trivial_prediction(train, 5)
    assert base.shape == (5, 10)
    np.testing.assert_allclose(base[3], [0, 0, 0, 1 / 3, 0, 2 / 3, 0, 0, 0, 0])
    assert evaluation_metrics.majority_above(train, 5.0) is True
    assert evaluation_metrics.majority_above(train, 6.0) is False
    with pytest.raises(ValueError, match="training split"):
        metrics.trivial_prediction(np.empty((0, 10)), 3)


def test_evaluate_split_compares_model_with_both_baselines():
    train = np.stack([one_hot(6)] * 3 + [one_hot(3)])  # majority above 5.0 and 5.1
    test_true = np.stack([one_hot(7), one_hot(8), one_hot(2), one_hot(6)])
    preds = evaluate.Predictions(["a", "b", "c", "d"], test_true.copy(), test_true, {}, "images", 1.0)
    result = evaluation_metrics.evaluate_split(preds, train, n_resamples=100, seed=0)
    assert result["n_images"] == 4
    assert result["model"]["accuracy@5.0"]["value"] == 1.0
    assert result["majority_class"]["accuracy@5.0"]["value"] == pytest.approx(0.75)  # 3 of 4 are above 5
    assert result["majority_side"] == {"5.0": "above", "5.1": "above"}
    # the trivial baseline predicts mean 5.25 for every image: above 5.0, so also 3 of 4
    assert result["trivial_baseline"]["accuracy@5.0"]["value"] == pytest.approx(0.75)
    assert result["trivial_baseline"]["srcc_mean"]["value"] is None
    table = evaluation_report.metrics_table(result)
    assert table.loc["binary accuracy at 5.0", "majority class"].startswith("75.0%")
    assert table.loc["EMD (lower is better)", "majority class"] == "—"
    comparison = evaluation_report.comparison_table(result, "unit test")
    assert comparison.loc["NIMA MobileNet (paper)", "accuracy at 5.0"] == "80.36%"
    assert comparison.loc["this model", "EMD"] == "0.000"
    assert comparison.loc["trivial baseline", "LCC (mean)"] == "—"
    json.dumps(result)  # the metrics JSON: no NaN, no numpy types


def test_differences_with_the_baselines_are_paired():
    train = np.stack([one_hot(6)] * 3 + [one_hot(3)])  # majority: above 5.0
    true = random_dists(11, 300)
    always_above = np.tile(one_hot(9), (300, 1))  # the majority class, as a distribution
    same = evaluate.Predictions([str(i) for i in range(300)], always_above, true, {}, "images", 1.0)
    diff = evaluation_metrics.evaluate_split(same, train, n_resamples=200, seed=0)["paired_differences"]["accuracy@5.0"]
    assert diff == {"against": "majority_class", "value": 0.0, "low": 0.0, "high": 0.0}  # unpaired would be wide
    perfect = evaluate.Predictions(same.ids, true, true, {}, "images", 1.0)
    result = evaluation_metrics.evaluate_split(perfect, train, n_resamples=200, seed=0)
    emd_diff = result["paired_differences"]["emd"]
    assert emd_diff["value"] == pytest.approx(-result["trivial_baseline"]["emd"]["value"]) and emd_diff["high"] < 0
    table = evaluation_report.metrics_table(result)
    assert table.loc["EMD (lower is better)", "model minus baseline (paired)"].endswith("vs. trivial baseline")


def test_cache_mismatch_follows_the_card():
    settings = {"size": 256, "resize": "bilinear"}
    assert evaluate.cache_mismatch(ModelCard(resize="bilinear", resize_size=256), settings) is None
    assert evaluate.cache_mismatch(ModelCard(resize="bilinear", input_size=256), settings) is None
    assert "nearest" in evaluate.cache_mismatch(ModelCard(), settings)  # idealo's: nearest squash to 224
    assert "288" in evaluate.cache_mismatch(ModelCard(resize="bilinear", resize_size=288), settings)


class HistogramEngine:
    """A test double that exposes its input: the distribution of an image's pixel values in 10 bins."""

    name = "histogram"
    weights = Path("none")

    def __init__(self, card: ModelCard) -> None:
        self.card = card
        self.seen: list[np.ndarray] = []

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.seen.extend(batch)
        hist = np.stack([np.histogram(x, bins=10, range=(-1, 1))[0] for x in batch]).astype(float)
        return hist / hist.sum(axis=1, keepdims=True)


@pytest.fixture
def small_split(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    photo = image_corpus.photo()
    rng = np.random.default_rng(0)
    rows = []
    for k in range(6):
        photo.rotate(15 * k).point(lambda v, k=k: min(255, v + 20 * k)).save(images / f"{k:03d}.jpg", quality=92)
        rows.append({"image_id": f"{k:03d}", **{f"c{i}": int(c) for i, c in enumerate(rng.integers(1, 30, 10), 1)}})
    (images / "006.jpg").write_bytes(b"not a photo")
    rows.append({"image_id": "006", **{f"c{i}": 1 for i in range(1, 11)}})
    return pd.DataFrame(rows), images


def test_predict_images_feeds_what_the_card_prescribes_and_reports_failures(small_split):
    table, images = small_split
    engine = HistogramEngine(ModelCard(input_size=64, resize="bilinear", resize_size=80))
    pred = evaluate.predict_images(table, images, engine, batch_size=4)
    assert pred.ids == [f"{k:03d}" for k in range(6)] and pred.inputs == "images"
    assert list(pred.failed) == ["006"]
    expected = [prepare(images / f"{k:03d}.jpg", engine) for k in range(6)]
    np.testing.assert_array_equal(np.stack(engine.seen), np.stack(expected))
    np.testing.assert_allclose(pred.true, distributions(table)[:6])
    frame = pred.frame()
    assert list(frame.columns[:6]) == ["image_id", "pred_mean", "pred_std", "true_mean", "true_std", "emd"]
    assert list(frame.columns[6:]) == [f"p{i}" for i in range(1, 11)]


def test_predict_from_a_matching_cache_equals_images_within_jpeg_noise(small_split, tmp_path):
    table, images = small_split
    cache = tmp_path / "cache"
    build_cache(table.iloc[:6], images, cache, "test", size=80, progress=False)
    engine = HistogramEngine(ModelCard(input_size=64, resize="bilinear", resize_size=80))
    from_cache = evaluate.predict_cache(table, cache, "test", engine, batch_size=4)
    from_images = evaluate.predict_images(table, images, HistogramEngine(engine.card), batch_size=4)
    assert from_cache.ids == from_images.ids and from_cache.inputs == "cache"
    assert from_cache.failed == {"006": "not in the training cache"}
    assert metrics.emd(from_cache.pred, from_images.pred).max() < 0.02
    with pytest.raises(ValueError, match="does not fit"):
        evaluate.predict_cache(table, cache, "test", HistogramEngine(ModelCard(input_size=64)), batch_size=4)


def test_too_few_scorable_images_is_an_error(small_split):
    table, images = small_split
    with pytest.raises(evaluate.EvaluationError, match="only 1 images"):
        evaluate.predict_images(table.iloc[5:], images, HistogramEngine(ModelCard(input_size=64)))


@pytest.fixture
def data_summary(tmp_path, small_split):
    table, images = small_split
    splits = tmp_path / "splits"
    splits.mkdir()
    for name in ("train", "val", "test"):
        table.to_csv(splits / f"{name}.csv", index=False)
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"source": "demo", "split_scheme": "official", "images_dir": str(images),
                                "splits": {"dir": str(splits)}}))
    return path


def test_check_parameters_accepts_good_ones(data_summary, tiny_weights):
    chosen, data = evaluate.check_parameters(str(tiny_weights), data_summary, "test", 32, 1000, 0)
    assert chosen.path == tiny_weights and data.synthetic_labels and data.cache_dir is None


@pytest.mark.parametrize(("change", "message"), [
    ({"split": "holdout"}, "split must be one of train, val, test"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"batch_size": 2.5}, "batch_size must be an integer"),
    ({"bootstrap": 50}, "bootstrap must be 0"),
    ({"seed": -1}, "seed must be"),
    ({"use_cache": "yes"}, "use_cache must be True or False"),
    ({"weights": "/nowhere/w.hdf5"}, "weights file /nowhere/w.hdf5 does not exist"),
    ({"data_summary": "/nowhere/summary.json"}, "run notebooks/01_ava_download_cleanup.ipynb first"),
])
def test_check_parameters_rejects_bad_ones(data_summary, tiny_weights, change, message):
    params = {"weights": str(tiny_weights), "data_summary": data_summary, "split": "test", "batch_size": 32,
              "bootstrap": 1000, "seed": 0, **change}
    with pytest.raises(ValueError, match=message):
        evaluate.check_parameters(**params)


def test_check_parameters_without_any_weights_says_how_to_get_them(data_summary, tmp_path, monkeypatch):
    monkeypatch.setenv("NIMA_LAB_HOME", str(tmp_path / "empty-home"))
    with pytest.raises(ValueError, match=r"No NIMA weights found .*make weights"):
        evaluate.check_parameters("", data_summary, "test", 32, 1000, 0)


def test_read_data_summary_names_what_is_missing(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"source": "demo"}))
    with pytest.raises(ValueError, match="lacks 'images_dir'"):
        read_data_summary(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_data_summary(path)
