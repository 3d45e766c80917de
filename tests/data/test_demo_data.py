"""The embedded demo dataset: deterministic, AVA-format, labels that encode the perturbations."""

import filecmp
import zipfile

import pandas as pd
import pytest
import scipy.stats

from nima_utils.data.ava import read_image_list, read_labels
from nima_utils.data.demo import BROKEN, CROPS, FIRST_ID, held_out_photos, make_demo_dataset
from nima_utils.data.sample_images import sample_photos
from nima_utils.data.sources import fetch_demo


def test_deterministic_given_seed(tmp_path):
    a, b, c = (make_demo_dataset(tmp_path / n, seed=s) for n, s in (("a", 0), ("b", 0), ("c", 1)))
    for field in ("ava_txt", "test_list", "archive", "meta", "sources"):
        assert filecmp.cmp(getattr(a, field), getattr(b, field), shallow=False), field
    assert not filecmp.cmp(a.ava_txt, c.ava_txt, shallow=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "d")


def test_format_labels_and_broken_files(demo):
    ds = demo
    labels = read_labels(ds.ava_txt)
    meta = pd.read_csv(ds.meta, dtype={"image_id": str})
    assert labels.issues == [] and len(labels.table) == len(meta)
    assert min(int(i) for i in labels.table["image_id"]) == FIRST_ID  # above every real AVA id
    names = set(zipfile.ZipFile(ds.archive).namelist())
    broken = meta[meta["photo"] == "broken"]
    assert set(broken["perturbation"]) == set(BROKEN)
    missing = broken.loc[broken["perturbation"] == "missing", "image_id"].item()
    assert f"images/{missing}.jpg" not in names and len(names) == len(meta) - 1
    # the labels encode the perturbation: the stronger, the lower the mean score
    perturbed = meta[~meta["perturbation"].isin(["none", *BROKEN])].merge(
        labels.table[["image_id", "mean"]], on="image_id")
    for kind, group in perturbed.groupby("perturbation"):
        assert scipy.stats.spearmanr(group["strength"], group["mean"]).statistic < -0.5, kind
    originals = meta[meta["perturbation"] == "none"].merge(labels.table[["image_id", "mean"]], on="image_id")
    assert originals["mean"].mean() > perturbed["mean"].mean() + 1


def test_test_list_holds_whole_photos_one_of_each_kind(demo):
    meta = pd.read_csv(demo.meta, dtype={"image_id": str})
    test = set(read_image_list(demo.test_list))
    tested = meta[meta["image_id"].isin(test)]
    assert tested["photo"].nunique() == 3
    assert set(meta.loc[meta["photo"].isin(set(tested["photo"])), "image_id"]) == test
    kinds = set(zip(tested["kind"], tested["colour"], strict=True))  # the rule: one photo of each kind of content
    assert kinds == {("scene", "colour"), ("scene", "grey"), ("texture", "grey")}
    assert sorted(tested["photo"].unique()) == held_out_photos(sample_photos(), seed=0)


def test_group_column_keeps_every_crop_and_edit_of_a_photo_together(demo):
    meta = pd.read_csv(demo.meta, dtype={"image_id": str})
    groups = pd.read_csv(demo.groups, dtype=str)
    assert groups["image_id"].tolist() == meta["image_id"].tolist()
    assert (groups["group"] == meta["photo"]).all()
    photos = meta[meta["photo"] != "broken"]
    assert (photos.groupby("photo")["source"].nunique() == CROPS).all()  # the frame and its crops: one group
    assert photos.groupby("source")["group"].nunique().max() == 1
    boxes = photos.drop_duplicates("source").groupby("photo")["box"].nunique()
    assert (boxes == CROPS).all()  # every crop of a photo at its own position and scale


def test_fetch_demo_through_the_downloader(tmp_path):
    files = fetch_demo(tmp_path, progress=False)
    assert files.downloads.ok and len(files.downloads.downloaded) == 4  # labels, test list, groups, images
    assert len(list(files.images_dir.glob("*.jpg"))) == len(read_labels(files.labels).table) - 1
    again = fetch_demo(tmp_path, progress=False)
    assert again.downloads.downloaded == [] and len(again.downloads.already_present) == 4
    other = fetch_demo(tmp_path, seed=1, progress=False)  # another seed: its own files, not the old ones
    assert len(other.downloads.downloaded) == 4 and other.labels.read_text() != files.labels.read_text()
