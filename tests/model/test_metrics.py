import numpy as np
import pytest
import scipy.stats

from nima_utils.model import metrics


def one_hot(i: int) -> np.ndarray:
    p = np.zeros(10)
    p[i - 1] = 1.0
    return p


def random_dists(rng, n):
    return rng.dirichlet(np.ones(10), size=n)


def test_emd_zero_for_identical_and_symmetric():
    rng = np.random.default_rng(0)
    p, q = random_dists(rng, 50), random_dists(rng, 50)
    np.testing.assert_allclose(metrics.emd(p, p), 0.0, atol=1e-12)
    np.testing.assert_allclose(metrics.emd(p, q), metrics.emd(q, p))
    assert (metrics.emd(p, q) > 0).all()


@pytest.mark.parametrize(("i", "j"), [(1, 10), (3, 4), (5, 9), (2, 2)])
def test_emd_one_hot_closed_form(i, j):
    # CDFs of two one-hot distributions differ by 1 on exactly |i - j| of the 10 buckets.
    assert metrics.emd(one_hot(i), one_hot(j)) == pytest.approx(np.sqrt(abs(i - j) / 10))


def test_emd_r1_is_mean_absolute_cdf_difference():
    assert metrics.emd(one_hot(2), one_hot(7), r=1) == pytest.approx(0.5)


def test_keras_loss_matches_numpy():
    import keras

    from nima_utils.model.losses import emd_loss

    rng = np.random.default_rng(1)
    p, q = random_dists(rng, 16).astype("float32"), random_dists(rng, 16).astype("float32")
    per_sample = keras.ops.convert_to_numpy(emd_loss(p, q))
    np.testing.assert_allclose(per_sample, metrics.emd(p, q), rtol=1e-5)
    loss = keras.losses.get(emd_loss)  # as Keras reduces it in training: the batch mean
    assert float(keras.ops.mean(loss(p, q))) == pytest.approx(metrics.emd(p, q).mean(), rel=1e-5)


def test_mean_and_std_hand_computed():
    p = np.array([0, 0, 0, 0, 0.5, 0, 0, 0, 0, 0.5])  # half 5, half 10
    assert metrics.mean_score(p) == pytest.approx(7.5)
    assert metrics.std_score(p) == pytest.approx(2.5)
    assert metrics.std_score(one_hot(4)) == pytest.approx(0.0)
    batch = np.stack([p, one_hot(3)])
    np.testing.assert_allclose(metrics.mean_score(batch), [7.5, 3.0])


def test_normalize_votes():
    counts = np.array([[0, 0, 1, 1, 2, 0, 0, 0, 0, 0]])
    np.testing.assert_allclose(metrics.normalize(counts), [[0, 0, 0.25, 0.25, 0.5, 0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="no votes"):
        metrics.normalize(np.zeros((1, 10)))
    with pytest.raises(ValueError, match="shape"):
        metrics.mean_score(np.ones(9))


def test_correlations_against_scipy_and_by_hand():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=200), rng.normal(size=200)
    assert metrics.srcc(a, b) == pytest.approx(scipy.stats.spearmanr(a, b).statistic)
    assert metrics.lcc(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1])
    assert metrics.srcc([1, 2, 3, 4], [10, 20, 30, 1000]) == pytest.approx(1.0)  # monotone, not linear
    assert metrics.lcc([1, 2, 3, 4], [10, 20, 30, 1000]) < 0.9
    assert metrics.srcc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # ranks (1, 2, 3) vs (1, 3, 2): 1 - 6 * 2 / (3 * 8)
    assert metrics.srcc([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)


def test_binary_accuracy_threshold():
    pred = np.array([4.9, 5.05, 5.2, 6.0])
    true = np.array([4.0, 5.2, 5.0, 7.0])
    # above 5.0: pred F T T T, true F T F T; above 5.1: pred F F T T, true F T F T
    assert metrics.binary_accuracy(pred, true, 5.0) == pytest.approx(0.75)
    assert metrics.binary_accuracy(pred, true, 5.1) == pytest.approx(0.5)
    assert metrics.binary_accuracy(pred, true, 3.0) == pytest.approx(1.0)


def test_evaluate_reports_every_metric():
    rng = np.random.default_rng(3)
    true = random_dists(rng, 30)
    out = metrics.evaluate(true, true)
    assert out["emd"] == pytest.approx(0.0, abs=1e-12)
    assert out["srcc_mean"] == pytest.approx(1.0) and out["lcc_std"] == pytest.approx(1.0)
    assert out["accuracy@5.0"] == out["accuracy@5.1"] == 1.0 and out["n"] == 30
