"""idealo's published weights: loading, fingerprint, real scores, and the verified download."""

import shutil

import numpy as np
import pandas as pd
import pytest

from nima_utils.download import DownloadError, download_file
from nima_utils.metrics import mean_score, normalize
from nima_utils.model_card import read_card
from nima_utils.scoring import score_images
from nima_utils.weights import IDEALO_FILENAME, IDEALO_FINGERPRINT, WeightsError, default_weights, fetch_idealo
from tests.http_server import serve


def test_idealo_loads_in_community_layout(idealo_engine):
    card = idealo_engine.card
    assert card.fingerprint == IDEALO_FINGERPRINT
    assert (card.padding, card.resize, card.input_size) == ("symmetric", "nearest", 224)


def test_idealo_scores_real_ava_photos_like_humans(idealo_engine, ava_dir):
    labels = pd.read_csv(ava_dir / "images" / "labels.csv", dtype={"image_id": str})
    human = mean_score(normalize(labels[[f"c{i}" for i in range(1, 11)]].to_numpy()))
    results = list(score_images([ava_dir / "images" / f"{i}.jpg" for i in labels.image_id], idealo_engine))
    predicted = np.array([r.mean for r in results])
    assert np.abs(predicted - human).max() < 0.7, (predicted, human)
    assert np.argmin(predicted) == np.argmin(human)
    assert np.argmax(predicted) == np.argmax(human)
    assert all(r.decision == ("accepted" if r.mean > 5.1 else "rejected") for r in results)


def test_fetch_idealo_from_local_server_resumes_and_verifies(idealo_weights, tmp_path):
    with serve({"/w.hdf5": idealo_weights}) as server:
        dest = tmp_path / "weights"
        dest.mkdir()
        whole = idealo_weights.read_bytes()
        (dest / (IDEALO_FILENAME + ".part")).write_bytes(whole[: len(whole) // 3])
        path = fetch_idealo(dest, url=server.url + "/w.hdf5", progress=False)
        assert server.requests == [("/w.hdf5", f"bytes={len(whole) // 3}-")]
    assert path.read_bytes() == whole
    card = read_card(path)
    assert card.fingerprint == IDEALO_FINGERPRINT and card.source.endswith("/w.hdf5")
    assert default_weights(dest) == path


def test_fetch_idealo_rejects_other_weights(tiny_weights, tmp_path):
    wrong = tmp_path / "wrong.hdf5"
    shutil.copy(tiny_weights, wrong)
    with serve({"/w.hdf5": wrong}) as server, pytest.raises(WeightsError, match="did not give idealo's weights"):
        fetch_idealo(tmp_path / "w", url=server.url + "/w.hdf5", progress=False)
    assert not (tmp_path / "w" / IDEALO_FILENAME).exists()
    assert (tmp_path / "w" / (IDEALO_FILENAME + ".rejected")).exists()


def test_download_survives_failures_and_cut_connections(tmp_path):
    payload = tmp_path / "payload.bin"
    payload.write_bytes(np.random.default_rng(0).bytes(3_000_000))
    with serve({"/p": payload}, plan="cfcc") as server:
        out = download_file(server.url + "/p", tmp_path / "out.bin", retries=8, backoff=0.01, progress=False)
    ranges = [rng for _, rng in server.requests]
    # cut at 1.5 MB, 503, cut half of the rest, again, then the remainder: each resumes where it stopped
    assert ranges == [None, "bytes=1500000-", "bytes=1500000-", "bytes=2250000-", "bytes=2625000-"]
    assert out.read_bytes() == payload.read_bytes()


def test_download_errors(tmp_path):
    with serve({}) as server, pytest.raises(DownloadError, match="HTTP 404"):
        download_file(server.url + "/missing", tmp_path / "x", progress=False)
    payload = tmp_path / "p.bin"
    payload.write_bytes(b"abc")
    with serve({"/p": payload}, plan="fff") as server, pytest.raises(DownloadError, match="after 2 attempts"):
        download_file(server.url + "/p", tmp_path / "y", retries=1, backoff=0.01, progress=False)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_offline_errors_fail_fast(tmp_path, monkeypatch):
    """A refused connection or a host name that does not resolve is not worth half a minute of retries."""
    import socket
    import time

    start = time.monotonic()
    with pytest.raises(DownloadError, match="connection refused"):
        download_file("http://127.0.0.1:9/none", tmp_path / "y", retries=5, backoff=10, progress=False)

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(DownloadError, match=r"cannot resolve the host name github\.com"):
        download_file("https://github.com/x.hdf5", tmp_path / "z", retries=5, backoff=10, progress=False)
    assert time.monotonic() - start < 5


def test_download_checksum(tmp_path):
    payload = tmp_path / "p.bin"
    payload.write_bytes(b"abc")
    with serve({"/p": payload}) as server:
        with pytest.raises(DownloadError, match="checksum mismatch"):
            download_file(server.url + "/p", tmp_path / "bad", sha256="0" * 64, progress=False)
        good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        assert download_file(server.url + "/p", tmp_path / "good", sha256=good, progress=False).read_bytes() == b"abc"


def test_no_weights_message(tmp_path):
    with pytest.raises(WeightsError, match="make weights"):
        default_weights(tmp_path)


def test_whole_model_keras2_file_loads_too(idealo_weights, tmp_path):
    """Some community files are Keras 2 whole-model saves: the weights sit under `model_weights`."""
    import h5py

    whole = tmp_path / "mobilenet_weights.h5"
    with h5py.File(idealo_weights, "r") as src, h5py.File(whole, "w") as dst:
        group = dst.create_group("model_weights")
        for key, value in src.attrs.items():
            group.attrs[key] = value
        for name in src:
            src.copy(src[name], group, name=name)
        dst.attrs["model_config"] = "{}"
    from nima_utils.weights import load_nima

    _, card = load_nima(whole)
    assert card.fingerprint == IDEALO_FINGERPRINT and card.padding == "symmetric"
