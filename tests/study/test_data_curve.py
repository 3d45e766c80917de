"""The photo curve on synthetic features: whole photos per fold, and more photos must help."""

import numpy as np
import pytest

from nima_utils.study import data_curve
from nima_utils.study.data_curve import Features, curve_finding, curve_table, photo_curve


def _features(photos: int = 8, per_photo: int = 12, seed: int = 0) -> Features:
    """Labels a function of the features: a distribution peaked at a bucket set by feature 0."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(photos * per_photo, 8)).astype(np.float32)
    centre = np.clip(4.5 + 2.0 * x[:, 0], 0, 9)
    y = np.exp(-0.5 * (np.arange(10)[None, :] - centre[:, None]) ** 2)
    y = (y / y.sum(axis=1, keepdims=True)).astype(np.float32)
    groups = np.repeat([f"p{i}" for i in range(photos)], per_photo)
    return Features([f"i{n}" for n in range(len(x))], x, y, groups)


def test_folds_hold_whole_photos_and_never_fit_on_them(monkeypatch):
    f = _features()
    seen = []

    def fake_fit(f, fit, val, *args):
        seen.append((set(f.groups[fit]), set(f.groups[val])))
        return {"val_emd_best": 0.1, "val_emd_last": 0.1, "best_epoch": 1, "srcc_within": 0.5, "srcc_pooled": 0.5}

    monkeypatch.setattr(data_curve, "_fit_head", fake_fit)
    rows = photo_curve(f, photos=(1, 3, 6, 9), folds=4)
    assert sorted(rows["photos"].unique()) == [1, 3, 6]  # 9 > the 6 photos outside a fold of 2
    assert all(not (fit & val) for fit, val in seen)
    assert [len(fit) for fit, _ in seen] == list(rows["photos"])
    assert sorted(p for _, val in seen[::3] for p in val) == sorted(set(f.groups))  # every photo validated once


def test_more_photos_lower_the_error_below_the_baseline():
    rows = photo_curve(_features(), photos=(1, 4), folds=2, epochs=60, lr=0.05, dropout=0.0, batch_size=256)
    table = curve_table(rows)
    assert table.loc[4, "val_emd_best"] < table.loc[1, "val_emd_best"]
    assert table.loc[4, "val_emd_best"] < table.loc[4, "baseline_emd"]
    assert (rows["val_emd_best"] <= rows["val_emd_last"] + 1e-6).all()
    assert "falls" in curve_finding(table) and "below the trivial" in curve_finding(table)


def test_too_few_photos_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 photos"):
        photo_curve(_features(photos=1), photos=(1,))
