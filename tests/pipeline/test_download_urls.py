"""--keras-url and --idealo-url (and nima weights --url) take what a user would pass: a folder, with or
without its trailing slash, or the file's own URL; the offline message names the option."""

import pytest

from nima_utils.model.weights import IDEALO_FILENAME, idealo_file_url
from nima_utils.pipeline import prerequisites
from nima_utils.pipeline.config import parse

REMOTE = "mobilenet/mobilenet_1_0_224_tf_no_top.h5"


@pytest.mark.parametrize(("given", "fetched"), [
    ("http://host/keras-applications", "http://host/keras-applications/" + REMOTE),
    ("http://host/keras-applications/", "http://host/keras-applications/" + REMOTE),
    ("http://host/flat/mobilenet_1_0_224_tf_no_top.h5", "http://host/flat/mobilenet_1_0_224_tf_no_top.h5"),
    ("http://host/flat/other_file.h5", "http://host/flat/mobilenet_1_0_224_tf_no_top.h5"),
])
def test_keras_url_is_a_folder_or_a_file(given, fetched):
    assert prerequisites.keras_file_url(given, REMOTE) == fetched


@pytest.mark.parametrize(("given", "fetched"), [
    ("http://host/nima", f"http://host/nima/{IDEALO_FILENAME}"),
    ("http://host/nima/", f"http://host/nima/{IDEALO_FILENAME}"),
    ("http://host/nima/my-copy.hdf5", "http://host/nima/my-copy.hdf5"),
])
def test_idealo_url_is_a_file_or_its_folder(given, fetched):
    assert idealo_file_url(given) == fetched


def test_what_to_do_offline_names_the_options(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    config = parse({"run": "x", "notebooks": {"01_ava_download_cleanup": {}, "02_train": {}, "04_sensitivity": {}}})
    keras, idealo = prerequisites.needed(config, keras_base_url="http://mirror/ka", idealo_url="http://mirror/nima")
    assert keras.url == "http://mirror/ka/" + REMOTE and "--keras-url" in keras.put_it
    assert idealo.url == f"http://mirror/nima/{IDEALO_FILENAME}" and "--idealo-url" in idealo.put_it
