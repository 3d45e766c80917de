"""The embedded demo dataset: deterministic, AVA-format, labels that encode the perturbations."""

import filecmp
import zipfile

import pandas as pd
import scipy.stats

from nima_utils.data.ava import read_image_list, read_labels
from nima_utils.data.demo import BROKEN, FIRST_ID, make_demo_dataset
from nima_utils.data.sources import fetch_demo


def test_deterministic_given_seed(tmp_path):
    a, b, c = (make_demo_dataset(tmp_path / n, seed=s) for n, s in (("a", 0), ("b", 0), ("c", 1)))
    for field in ("ava_txt", "test_list", "archive", "meta", "sources"):
        assert filecmp.cmp(getattr(a, field), getattr(b, field), shallow=False), field
    assert not filecmp.cmp(a.ava_txt, c.ava_txt, shallow=False)


def test_format_labels_and_broken_files(tmp_path):
    ds = make_demo_dataset(tmp_path / "d")
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


def test_test_list_holds_whole_photos(tmp_path):
    ds = make_demo_dataset(tmp_path / "d")
    meta = pd.read_csv(ds.meta, dtype={"image_id": str})
    test = set(read_image_list(ds.test_list))
    test_photos = set(meta.loc[meta["image_id"].isin(test), "photo"])
    assert len(test_photos) == 3
    assert set(meta.loc[meta["photo"].isin(test_photos), "image_id"]) == test


def test_fetch_demo_through_the_downloader(tmp_path):
    files = fetch_demo(tmp_path, progress=False)
    assert files.downloads.ok and len(files.downloads.downloaded) == 3
    assert len(list(files.images_dir.glob("*.jpg"))) == len(read_labels(files.labels).table) - 1
    again = fetch_demo(tmp_path, progress=False)
    assert again.downloads.downloaded == [] and len(again.downloads.already_present) == 3
    other = fetch_demo(tmp_path, seed=1, progress=False)  # another seed: its own files, not the old ones
    assert len(other.downloads.downloaded) == 3 and other.labels.read_text() != files.labels.read_text()
