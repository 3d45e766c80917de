"""Every AVA source ends in the same local layout: archives and per-image templates over a local
HTTP server, and a folder already on disk (the real AVA photos, through notebook 01)."""

import json
import shutil
import zipfile

import pytest

from nima_utils.data.ava import read_labels
from nima_utils.data.demo import make_demo_dataset
from nima_utils.data.sources import fetch_source
from tests.http_server import serve
from tests.notebook_runner import run


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_dataset(tmp_path_factory.mktemp("demo_src"))


def test_archives_source(demo, tmp_path):
    files = {"/AVA.txt": demo.ava_txt, "/generic_test.jpgl": demo.test_list, "/images.zip": demo.archive}
    with serve(files, plan="c") as server:
        got = fetch_source("archives", tmp_path, archive_urls=[server.url + "/images.zip"],
                           labels_url=server.url + "/AVA.txt", test_list_url=server.url + "/generic_test.jpgl",
                           progress=False)
    assert got.downloads.ok and got.test_list is not None
    assert len(list(got.images_dir.glob("*.jpg"))) == len(zipfile.ZipFile(demo.archive).namelist())


def test_template_source(demo, tmp_path):
    images = tmp_path / "unzipped"
    zipfile.ZipFile(demo.archive).extractall(images)
    served = {f"/img/{p.name}": p for p in (images / "images").glob("*.jpg")}
    served["/AVA.txt"] = demo.ava_txt
    with serve(served) as server:
        got = fetch_source("template", tmp_path / "data", url_template=server.url + "/img/{id}.jpg",
                           labels_url=server.url + "/AVA.txt", request_delay=0.0, limit=20, progress=False)
    ids = list(read_labels(got.labels).table["image_id"])[:20]
    assert sorted(p.stem for p in got.images_dir.glob("*.jpg")) == sorted(ids)
    assert got.test_list is None


def test_unknown_source_and_missing_parameters(tmp_path):
    with pytest.raises(ValueError, match="unknown source"):
        fetch_source("torrent", tmp_path)
    with pytest.raises(ValueError, match="archive_urls"):
        fetch_source("archives", tmp_path)


@pytest.mark.notebook
def test_folder_source_on_real_ava_photos_through_notebook(ava_dir, tmp_path):
    folder = tmp_path / "AVA_dataset"
    shutil.copytree(ava_dir / "images", folder / "images", ignore=shutil.ignore_patterns("*.csv"))
    shutil.copy(ava_dir / "images" / "labels.csv", folder / "ava_votes.csv")
    report = tmp_path / "report"
    run("01_ava_download_cleanup.ipynb", tmp_path, source="folder", local_dir=str(folder),
        data_dir=str(tmp_path / "data"), report_dir=str(report), split_scheme="paper")
    figures = json.loads((report / "summary.json").read_text())
    assert figures["download"] is None
    assert figures["cleanup"]["clean"] == 5 and figures["cleanup"]["quarantined"] == 0
    assert figures["cache"]["train"] + figures["cache"]["val"] + figures["cache"]["test"] == 5
    assert 4.5 < figures["label_stats"]["mean_score_mean"] < 5.5


def test_check_parameters_accepts_defaults_and_names_each_problem(tmp_path):
    from nima_utils.data.sources import check_parameters

    check_parameters("demo")
    check_parameters("template", url_template="https://h/{id}.jpg", labels_url="https://h/AVA.txt", val_share=0.5)
    cases = [({"source": "demo", "val_share": 0}, "val_share must be a number strictly between 0 and 1"),
             ({"source": "demo", "val_share": True}, "val_share"),
             ({"source": "demo", "limit": 2.5}, "limit must be an integer >= 0"),
             ({"source": "demo", "cache_size": 8}, "cache_size must be an integer from 32 to 2048"),
             ({"source": "demo", "request_delay": -1}, "request_delay must be"),
             ({"source": "archives", "archive_urls": "https://h/a.zip"}, "needs archive_urls, a list of URLs"),
             ({"source": "template", "url_template": "https://h/x.jpg"}, "needs url_template with {id}"),
             ({"source": "folder"}, "needs local_dir"),
             ({"source": "folder", "local_dir": str(tmp_path)}, "has no AVA.txt or ava_votes.csv")]
    for parameters, message in cases:
        with pytest.raises(ValueError, match=r"^invalid notebook 01 \(data\) parameters:\n  - ") as failure:
            check_parameters(**parameters)
        assert message in str(failure.value), (parameters, failure.value)
