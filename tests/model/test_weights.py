"""idealo's published weights: loading, fingerprint, real scores, and the verified download."""

import shutil

import numpy as np
import pandas as pd
import pytest

from nima_utils.data.download import DownloadError, download_file
from nima_utils.model.card import read_card
from nima_utils.model.metrics import mean_score, normalize
from nima_utils.model.weights import IDEALO_FILENAME, IDEALO_FINGERPRINT, WeightsError, default_weights, fetch_idealo
from nima_utils.scoring import score_images
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
    from nima_utils.model.weights import load_nima

    _, card = load_nima(whole)
    assert card.fingerprint == IDEALO_FINGERPRINT and card.padding == "symmetric"


def test_if_missing_verifies_a_present_file_and_replaces_a_damaged_one(idealo_weights, tmp_path, capsys):
    from nima_utils.cli import main

    folder = tmp_path / "weights"
    folder.mkdir()
    whole = idealo_weights.read_bytes()
    damaged = bytearray(whole)
    damaged[-200_000:-100_000] = bytes(100_000)  # still a readable HDF5 file, but some tensors are zeros
    (folder / IDEALO_FILENAME).write_bytes(damaged)
    with serve({"/w.hdf5": idealo_weights}) as server:
        assert main(["weights", "--dir", str(folder), "--if-missing", "--url", server.url + "/w.hdf5"]) == 0
        assert len(server.requests) == 1
    assert (folder / IDEALO_FILENAME).read_bytes() == whole
    assert (folder / (IDEALO_FILENAME + ".rejected")).read_bytes() == damaged
    assert "moved aside" in capsys.readouterr().out
    # now present and sound: nothing is downloaded (an unreachable URL proves it)
    assert main(["weights", "--dir", str(folder), "--if-missing", "--url", "http://127.0.0.1:9/w.hdf5"]) == 0
    assert "verified" in capsys.readouterr().out


def test_idealo_under_another_name_is_found_by_fingerprint(idealo_weights, tmp_path, capsys):
    from nima_utils.cli import main

    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(idealo_weights, folder / "nima_idealo_from_a_friend.hdf5")
    assert default_weights(folder) == folder / "nima_idealo_from_a_friend.hdf5"
    assert main(["weights", "--dir", str(folder), "--if-missing", "--url", "http://127.0.0.1:9/w.hdf5"]) == 0
    assert "nima_idealo_from_a_friend.hdf5" in capsys.readouterr().out
    assert read_card(folder / "nima_idealo_from_a_friend.hdf5").fingerprint == IDEALO_FINGERPRINT
    assert not (folder / IDEALO_FILENAME).exists()


def test_offline_weights_download_fails_fast_with_a_hint(tmp_path, monkeypatch, capsys):
    import socket
    import time

    from nima_utils.cli import main
    from nima_utils.model.weights import IDEALO_URL

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    start = time.monotonic()
    assert main(["weights", "--dir", str(tmp_path / "w"), "--if-missing"]) == 2
    assert time.monotonic() - start < 5
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    for needed in (IDEALO_FILENAME, IDEALO_URL, str(tmp_path / "w"), "--url MIRROR", "offline"):
        assert needed in err, needed


def test_if_missing_keeps_sound_trained_weights_and_flags_damaged_ones(tiny_weights, tmp_path, capsys):
    import json

    from nima_utils.cli import main
    from nima_utils.model.card import card_path

    run = tmp_path / "weights" / "run1"
    run.mkdir(parents=True)
    shutil.copy(tiny_weights, run / tiny_weights.name)
    shutil.copy(card_path(tiny_weights), card_path(run / tiny_weights.name))
    args = ["weights", "--dir", str(tmp_path / "weights"), "--if-missing", "--url", "http://127.0.0.1:9/w"]
    assert main(args) == 0
    assert "present and verified" in capsys.readouterr().out
    card = json.loads(card_path(run / tiny_weights.name).read_text())
    card["fingerprint"] = "sha256:" + "0" * 64
    card_path(run / tiny_weights.name).write_text(json.dumps(card))
    assert main(args) == 2
    assert "damaged or not what its card says" in capsys.readouterr().err
    assert (run / tiny_weights.name).exists()  # a trained model is never moved or replaced
