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
