"""The index's test headline says what the figures mean and shows the ranking within unseen photos."""

from nima_utils.pipeline import report


def test_headline_names_synthetic_labels_unseen_photos_and_both_srccs(tmp_path):
    test = {"n_images": 105, "split": "test", "data_source": "demo", "synthetic_labels": True, "weights": "/w/x.h5",
            "metrics": {}, "ranking": {"within_group_srcc_mean": 0.561, "pooled_srcc_mean": 0.056, "n_groups": 3}}
    page = report._headline(tmp_path, {"variants": [{"name": "", "test": test}]})
    assert "105 images of 3 photos never seen in training" in page and "synthetic labels" in page
    assert "within a photo 0.56 on average over 3 photos" in page and "pooled over all images 0.06" in page
    plain = report._headline(tmp_path, {"variants": [{"name": "", "test": {**test, "ranking": None}}]})
    assert "within a photo" not in plain and "never seen" not in plain


def _test(low: float, high: float) -> dict:
    diff = {"value": (low + high) / 2, "low": low, "high": high}
    return {"n_images": 105, "split": "test", "data_source": "demo", "weights": "/w/x.h5",
            "metrics": {"paired_differences": {"emd": diff}}, "ranking": None}


def test_headline_says_in_words_whether_the_model_beats_the_trivial_baseline(tmp_path):
    def page(low, high):
        return report._headline(tmp_path, {"variants": [{"name": "", "test": _test(low, high)}]})

    assert "Test EMD worse than the trivial baseline</b>: model minus baseline +0.023 [+0.011, +0.035]" \
        in page(0.011, 0.035)
    assert "Test EMD better than the trivial baseline" in page(-0.03, -0.01)
    assert "not distinguishable from the trivial baseline" in page(-0.01, 0.02)


def test_training_section_gives_the_photo_curve_finding_and_links_notebook_02(tmp_path):
    curve = {"finding": "Validation EMD (best epoch) falls from 0.140 with 3 training photos to 0.096 with 12"}
    result = {"variants": [{"name": "", "train": {"validation": {}, "photo_curve": curve}}],
              "steps": [{"notebook": "02_train", "variant": "", "html": "02_train.html"}]}
    page = report._headline(tmp_path, result)
    assert "More photos: Validation EMD (best epoch) falls from 0.140" in page
    assert 'href="02_train.html#5.-How-the-error' in page


def test_sensitivity_says_what_it_ranks_by_beside_the_column_it_shows():
    summary = {"ranking": [{"rank": 1, "perturbation": "blur", "range": 0.5, "mean_abs_change": 0.2},
                           {"rank": 2, "perturbation": "noise", "range": 0.3, "mean_abs_change": 0.4}]}
    page = report._sensitivity(summary)
    assert "rank (by range)" in page and "ranked by the range of the mean score" in page
    assert "mean |change| from the unedited photo" in page
