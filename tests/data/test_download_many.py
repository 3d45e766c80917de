"""Parallel, resumable, polite downloads and archive sources, against a local flaky HTTP server."""

import contextlib
import io
import tarfile
import time
import zipfile

import numpy as np
import pytest

from nima_utils.data.archives import extract, fetch_archives
from nima_utils.data.download import DownloadError, DownloadJob, download_many, template_jobs
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


BODY = bytes(range(256)) * 400  # 102,400 bytes


def whole(handler, status=200, extra=()):
    handler.send_response(status)
    for key, value in extra:
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(BODY)))
    handler.end_headers()
    handler.wfile.write(BODY)


def refuse_ranges(handler):
    """A 416 to every resume (without saying the size), the whole file otherwise."""
    if handler.headers.get("Range"):
        handler.send_error(416)
    else:
        whole(handler)


def wrong_range(handler):
    """Answers a resume with 206 but from byte 0."""
    if handler.headers.get("Range"):
        whole(handler, 206, [("Content-Range", f"bytes 0-{len(BODY) - 1}/{len(BODY)}")])
    else:
        whole(handler)


def says_complete(handler):
    handler.send_response(416)
    handler.send_header("Content-Range", f"bytes */{len(BODY)}")
    handler.send_header("Content-Length", "0")
    handler.end_headers()


@pytest.mark.parametrize("server_does", [refuse_ranges, wrong_range])
def test_a_resume_the_server_does_not_continue_starts_over(tmp_path, server_does):
    (tmp_path / "f.bin.part").write_bytes(BODY[:1000])
    with serve({}, special={"/f.bin": server_does}) as server:
        summary = download_many([DownloadJob(server.url + "/f.bin", tmp_path / "f.bin")], retries=2, backoff=0.01,
                                progress=False)
    assert summary.ok, summary
    assert (tmp_path / "f.bin").read_bytes() == BODY  # never the partial file, never appended twice
    assert [rng for _, rng in server.requests] == ["bytes=1000-", None]


def test_416_with_the_parts_size_means_complete(tmp_path):
    (tmp_path / "f.bin.part").write_bytes(BODY)
    with serve({}, special={"/f.bin": says_complete}) as server:
        assert download_many([DownloadJob(server.url + "/f.bin", tmp_path / "f.bin")], progress=False).ok
    assert (tmp_path / "f.bin").read_bytes() == BODY


def test_416_on_a_fresh_download_is_a_failure_not_an_exception(tmp_path, payloads):
    with serve(payloads, special={"/broken": lambda h: h.send_error(416)}) as server:
        jobs = [DownloadJob(server.url + "/broken", tmp_path / "broken"),
                DownloadJob(server.url + "/img/0.jpg", tmp_path / "0.jpg")]
        summary = download_many(jobs, workers=2, retries=1, backoff=0.01, progress=False)
    assert "416" in summary.failed[server.url + "/broken"] and summary.downloaded == [tmp_path / "0.jpg"]
    assert not (tmp_path / "broken").exists() and not (tmp_path / "broken.part").exists()


def test_two_urls_with_one_file_name_never_share_a_part(tmp_path, payloads):
    with serve({"/a/x.jpg": payloads["/img/0.jpg"], "/b/x.jpg": payloads["/img/1.jpg"]}) as server:
        summary = download_many([DownloadJob(server.url + "/a/x.jpg", tmp_path / "x.jpg"),
                                 DownloadJob(server.url + "/b/x.jpg", tmp_path / "x.jpg")], workers=2, progress=False)
    assert "same file name as" in summary.failed[server.url + "/b/x.jpg"]
    assert (tmp_path / "x.jpg").read_bytes() == payloads["/img/0.jpg"].read_bytes()


def endless(handler):
    handler.send_response(200)
    handler.end_headers()  # no Content-Length: the body ends when the connection does
    with contextlib.suppress(OSError):
        while True:
            handler.wfile.write(b"\0" * 65536)


def trickle(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    with contextlib.suppress(OSError):
        for _ in range(100000):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.02)


def too_big(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", str(10 << 30))
    handler.end_headers()


def test_size_cap_and_deadline(tmp_path):
    with serve({}, special={"/endless": endless, "/trickle": trickle, "/big": too_big}) as server:
        start = time.monotonic()
        summary = download_many([DownloadJob(server.url + "/endless", tmp_path / "endless"),
                                 DownloadJob(server.url + "/big", tmp_path / "big")],
                                max_bytes=5 << 20, workers=2, progress=False)
        assert "more than 5,242,880 bytes" in summary.failed[server.url + "/endless"]
        assert "announces 10,737,418,240 bytes" in summary.failed[server.url + "/big"]
        slow = download_many([DownloadJob(server.url + "/trickle", tmp_path / "trickle")], deadline=1.0,
                             timeout=5, progress=False)
        assert "deadline of 1 s" in slow.failed[server.url + "/trickle"]
        assert time.monotonic() - start < 10
    assert not list(tmp_path.glob("endless*")) and not list(tmp_path.glob("big*"))
    assert (tmp_path / "trickle.part").exists()  # kept: a rerun resumes it


def cut_chunked(handler):
    """A chunked body cut before its last chunk (no Content-Length to compare with) on the first request."""
    handler.server.cuts = getattr(handler.server, "cuts", 0) + 1
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    half = BODY[: len(BODY) // 2]
    handler.wfile.write(b"%x\r\n%s\r\n" % (len(half), half))
    if handler.server.cuts == 1:
        handler.wfile.flush()
        handler.connection.shutdown(2)
        return
    rest = BODY[len(half):]
    handler.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest))


def test_a_cut_chunked_body_is_retried_not_kept(tmp_path):
    with serve({}, special={"/c.bin": cut_chunked}) as server:
        summary = download_many([DownloadJob(server.url + "/c.bin", tmp_path / "c.bin")], retries=2, backoff=0.01,
                                progress=False)
    assert summary.ok, summary
    assert (tmp_path / "c.bin").read_bytes() == BODY and len(server.requests) == 2


def test_template_ids_must_be_plain(tmp_path):
    with pytest.raises(ValueError, match="not a plain id"):
        template_jobs("https://example.org/{id}.jpg", ["1", "../../etc/x"], tmp_path)
