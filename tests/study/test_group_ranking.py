"""SRCC of the mean within each group (the demo's source photos) beside the pooled one."""

import pandas as pd
import pytest

from nima_utils.study.group_ranking import finding, group_ranking


def test_within_group_ranking_sees_what_the_pooled_srcc_hides():
    # two photos, each ranked perfectly inside, but photo b predicted 3 points too high
    frame = pd.DataFrame({"image_id": list("123456"), "true_mean": [6, 5, 4, 6, 5, 4],
                          "pred_mean": [5.0, 4.5, 4.0, 8.0, 7.5, 7.0]})
    ranking = group_ranking(frame, {"1": "a", "2": "a", "3": "a", "4": "b", "5": "b", "6": "b"})
    assert ranking["by_group"] == pytest.approx({"a": 1.0, "b": 1.0}) and ranking["n_groups"] == 2
    assert ranking["within_group_srcc_mean"] == pytest.approx(1.0) and ranking["pooled_srcc_mean"] < 0.6
    assert "at least the demo's goal of 0.6" in finding(ranking)
    assert group_ranking(frame, {}) is None and finding(None) is None
    groups = {i: "ab"[int(i) > 3] for i in "123456"}
    flat = group_ranking(frame.assign(pred_mean=[5.0, 5.0, 5.0, 8.0, 7.5, 7.0]), groups)
    assert flat["by_group"]["a"] is None and flat["n_groups"] == 2 and flat["within_group_srcc_mean"] == 1.0
    assert "a undefined" in finding(flat)
