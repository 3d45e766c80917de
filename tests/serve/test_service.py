"""The HTTP service in-process: API shape, per-file errors, limits, batching."""

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient

from nima_utils.model.engine import KerasEngine
from nima_utils.serve.app import Limits, ServiceConfig, create_app
from tests import image_corpus

STATUS = {"truncated.jpg": 422, "text.jpg": 415, "empty.jpg": 400, "bomb.png": 413, "scans.jpg": 413}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return image_corpus.build(tmp_path_factory.mktemp("svc"))


@pytest.fixture(scope="module")
def engine(tiny_weights):
    return KerasEngine(tiny_weights)


@pytest.fixture(scope="module")
def client(engine):
    limits = Limits(max_file_bytes=500_000, max_request_bytes=2_000_000, max_batch=16)
    with TestClient(create_app(ServiceConfig(limits=limits, threshold=5.0), engine)) as c:
        yield c


def upload(corpus, name, field="file"):
    return (field, (name, (corpus / name).read_bytes(), "application/octet-stream"))


def test_single_score_matches_cli_engine(client, corpus, engine):
    from nima_utils.scoring import score_images

    r = client.post("/score", files=[upload(corpus, "photo.jpg")])
    assert r.status_code == 200
    body = r.json()
    assert body["filename"] == "photo.jpg" and body["threshold"] == 5.0 and len(body["probs"]) == 10
    assert sum(body["probs"]) == pytest.approx(1, abs=1e-5)
    (expected,) = score_images([corpus / "photo.jpg"], engine)
    assert body["mean"] == pytest.approx(expected.mean, abs=1e-4)
    assert body["decision"] == ("accepted" if body["mean"] > 5.0 else "rejected")


@pytest.mark.parametrize("name", image_corpus.GOOD)
def test_awkward_but_valid_images_are_scored(client, corpus, name):
    r = client.post("/score", files=[upload(corpus, name)])
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("name", "status"), sorted(STATUS.items()))
def test_bad_uploads_get_clear_4xx(client, corpus, name, status):
    r = client.post("/score", files=[upload(corpus, name)])
    assert r.status_code == status
    detail = r.json()["detail"]
    assert detail["filename"] == name and detail["error"]


def test_content_is_sniffed_not_named(client, corpus):
    r = client.post("/score", files=[("file", ("cat.txt", (corpus / "alpha.png").read_bytes(), "text/plain"))])
    assert r.status_code == 200
    r = client.post("/score", files=[("file", ("x.jpg", b"GIF89a not really", "image/jpeg"))])
    assert r.status_code == 415


def test_batch_keeps_order_and_isolates_bad_files(client, corpus):
    names = ["photo.jpg", "text.jpg", "cmyk.jpg", "empty.jpg", "rotated.jpg", "truncated.jpg"]
    r = client.post("/score/batch", files=[upload(corpus, n, "files") for n in names])
    assert r.status_code == 200
    body = r.json()
    assert [x["filename"] for x in body["results"]] == names
    assert (body["scored"], body["failed"]) == (3, 3)
    assert [("error" in x) for x in body["results"]] == [False, True, False, True, False, True]
    assert body["results"][1]["status"] == 415


def test_batch_length_and_size_limits(client, corpus):
    too_many = [upload(corpus, "gray.png", "files")] * 17
    r = client.post("/score/batch", files=too_many)
    assert r.status_code == 413 and "limit of 16" in r.json()["detail"]
    big = np.random.default_rng(0).integers(0, 255, (450, 450, 3), dtype=np.uint8)
    buf = io.BytesIO()
    from PIL import Image

    Image.fromarray(big).save(buf, "PNG")  # noise does not compress: about 600 kB > 500 kB
    r = client.post("/score/batch", files=[("files", ("big.png", buf.getvalue(), "image/png")),
                                           upload(corpus, "photo.jpg", "files")])
    results = r.json()["results"]
    assert results[0]["status"] == 413 and "over the limit" in results[0]["error"]
    assert "mean" in results[1]
    r = client.post("/score/batch", files=[upload(corpus, "photo.bmp", "files")] * 6)  # 6 x 406 kB > 2 MB
    assert r.status_code == 413 and "request body" in r.json()["detail"]


def test_body_limit_without_content_length(client):
    def chunks():  # a streamed body: no Content-Length header, 3 MB > the 2 MB limit
        for _ in range(30):
            yield b"x" * 100_000

    r = client.post("/score/batch", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and "request body" in r.json()["detail"]


def test_missing_field_is_a_validation_error(client):
    assert client.post("/score").status_code == 422
    assert client.post("/score/batch", data={"x": "y"}).status_code == 422


def test_health_docs_and_page(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["engine"] == "keras"
    assert health["model"]["input_size"] == 64 and health["limits"]["max_batch"] == 16
    assert client.get("/docs").status_code == 200
    assert "/score/batch" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "score/batch" in page.text


def test_validation_errors_never_echo_the_input(client):
    """FastAPI's default 422 repeats every submitted value: a 190 MiB form came back as a 1.1 GB reply."""
    junk = "NOT-A-FILE-" * 50_000  # 550 kB in a text field where a file belongs
    r = client.post("/score", data={"file": junk})
    assert r.status_code == 422
    assert len(r.content) < 1_000 and "NOT-A-FILE" not in r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "file"] and error["msg"] and "input" not in error
    many = {f"f{i}": "x" for i in range(40)}
    r = client.post("/score/batch", data=many)
    assert r.status_code == 422 and len(r.content) < 2_000


def test_long_file_names_are_cut_in_replies(client, corpus):
    name = "n" * 1_000 + ".jpg"
    r = client.post("/score/batch", files=[("files", (name, (corpus / "photo.jpg").read_bytes(), "image/jpeg")),
                                           ("files", (name, b"not an image", "image/jpeg"))])
    assert r.status_code == 200 and len(r.content) < 2_000
    first, second = r.json()["results"]
    assert len(first["filename"]) == 255 and first["filename"].endswith("…") and "mean" in first
    assert len(second["filename"]) == 255 and second["status"] == 415


def test_head_requests_and_offline_docs(client):
    import re

    for path in ("/", "/health"):
        r = client.head(path)
        assert r.status_code == 200 and r.content == b""
    docs = client.get("/docs")
    assert docs.status_code == 200
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", docs.text)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets) and any(a.endswith(".css") for a in assets)
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))]  # nothing from a CDN
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    redoc = client.get("/redoc")
    assert redoc.status_code == 200 and "https://" not in re.sub(r"https://[^\s\"']*openapi", "", redoc.text)
