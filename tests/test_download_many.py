"""Parallel, resumable, polite downloads and archive sources, against a local flaky HTTP server."""

import io
import tarfile
import time
import zipfile

import numpy as np
import pytest

from nima_utils.download import DownloadError, DownloadJob, download_many, extract, fetch_archives, template_jobs
from tests.http_server import serve


@pytest.fixture
def payloads(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "src"
    src.mkdir()
    files = {}
    for i in range(12):
        p = src / f"{i}.jpg"
        p.write_bytes(rng.bytes(int(rng.integers(50_000, 400_000))))
        files[f"/img/{i}.jpg"] = p
    return files


def test_parallel_flaky_server_gives_identical_complete_files(payloads, tmp_path):
    plan = "fc.cf..f.c.ff.c"  # 503s and cut bodies scattered over the first requests
    with serve(payloads, plan=plan) as server:
        jobs = template_jobs(server.url + "/img/{id}.jpg", [str(i) for i in range(12)], tmp_path / "out")
        summary = download_many(jobs, workers=4, retries=6, backoff=0.01, progress=False)
    assert summary.ok and len(summary.downloaded) == 12, summary
    for i in range(12):
        assert (tmp_path / "out" / f"{i}.jpg").read_bytes() == payloads[f"/img/{i}.jpg"].read_bytes()
    assert any(rng for _, rng in server.requests), "a cut body should have been resumed with Range"
    assert not list((tmp_path / "out").glob("*.part"))


def test_interrupted_run_resumes_without_refetching(payloads, tmp_path):
    ids = [str(i) for i in range(12)]
    with serve(payloads, plan="......" + "f" * 200) as server:  # the "network" dies after 6 requests
        first = download_many(template_jobs(server.url + "/img/{id}.jpg", ids, tmp_path / "out"), workers=2,
                              retries=1, backoff=0.01, progress=False)
    assert len(first.downloaded) == 6 and len(first.failed) == 6
    done = {p.name for p in first.downloaded}
    with serve(payloads) as server:
        second = download_many(template_jobs(server.url + "/img/{id}.jpg", ids, tmp_path / "out"), workers=3,
                               progress=False)
    assert second.ok and len(second.already_present) == 6 and len(second.downloaded) == 6
    fetched_again = {path.rsplit("/", 1)[1] for path, _ in server.requests}
    assert not fetched_again & done
    for i in ids:
        assert (tmp_path / "out" / f"{i}.jpg").read_bytes() == payloads[f"/img/{i}.jpg"].read_bytes()


def test_delay_spaces_requests(payloads, tmp_path):
    with serve(payloads) as server:
        start = time.monotonic()
        jobs = template_jobs(server.url + "/img/{id}.jpg", ["0", "1", "2", "3"], tmp_path / "out")
        assert download_many(jobs, workers=4, delay=0.2, progress=False).ok
    assert time.monotonic() - start >= 0.6  # 4 request starts, at least 0.2 s apart


def test_failures_are_collected_not_raised(tmp_path):
    with serve({}) as server:
        summary = download_many([DownloadJob(server.url + "/nope.jpg", tmp_path / "nope.jpg")], progress=False)
    assert not summary.ok and "404" in summary.failed[server.url + "/nope.jpg"]
    assert "1 failed" in str(summary)
    with pytest.raises(ValueError, match=r"\{id\}"):
        template_jobs("https://example.org/x.jpg", ["1"], tmp_path)


def make_images(n=5):
    rng = np.random.default_rng(1)
    return {f"images/{1000 + i}.jpg": rng.bytes(20_000) for i in range(n)}


def test_multipart_7z_archive(tmp_path):
    import py7zr

    members = make_images()
    staging = tmp_path / "staging"
    for name, data in members.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    archive = tmp_path / "ava.7z"
    with py7zr.SevenZipFile(archive, "w") as z:
        z.writeall(staging / "images", "images")
    blob = archive.read_bytes()
    parts = {}
    for k, start in enumerate(range(0, len(blob), len(blob) // 3 + 1), start=1):
        part = tmp_path / f"ava.7z.{k:03d}"
        part.write_bytes(blob[start : start + len(blob) // 3 + 1])
        parts[f"/{part.name}"] = part
    with serve(parts, plan="c.f") as server:
        urls = [server.url + p for p in sorted(parts)]
        summary = fetch_archives(urls, tmp_path / "dl", tmp_path / "ava", workers=2, progress=False)
        assert summary.ok, summary
        again = fetch_archives(urls, tmp_path / "dl", tmp_path / "ava", workers=2, progress=False)
    assert len(again.already_present) == len(parts)
    for name, data in members.items():
        assert (tmp_path / "ava" / name).read_bytes() == data


def test_tar_and_zip_archives_and_checksums(tmp_path):
    members = make_images(3)
    tgz = tmp_path / "a.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    with serve({"/a.tar.gz": tgz}) as server:
        bad = fetch_archives([server.url + "/a.tar.gz"], tmp_path / "dl", tmp_path / "x",
                             sha256={"a.tar.gz": "0" * 64}, progress=False)
        assert "checksum mismatch" in next(iter(bad.failed.values()))
        good = fetch_archives([server.url + "/a.tar.gz"], tmp_path / "dl", tmp_path / "x", progress=False)
    assert good.ok and (tmp_path / "x" / "images" / "1000.jpg").read_bytes() == members["images/1000.jpg"]
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../escape.txt", "x")
    with pytest.raises(DownloadError, match="outside"):
        extract(evil, tmp_path / "y")
    assert not (tmp_path / "escape.txt").exists()
