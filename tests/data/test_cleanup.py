"""Cleanup on a folder with each kind of broken file; originals untouched."""

import hashlib
import io

import pandas as pd
import pytest
from PIL import Image

from nima_utils.data.cleanup import KNOWN_CORRUPT_AVA, check_image, clean_labels
from tests import image_corpus

BROKEN = {
    "101": ("truncated", lambda: image_corpus.jpeg_bytes(image_corpus.photo())[:5000]),
    "102": ("not an image", lambda: b"<html>404 not found</html>"),
    "103": ("empty", lambda: b""),
    "104": ("decompression bomb", image_corpus.bomb_png),
    "105": ("too small", None),
    "106": ("missing", None),
    "107": ("unreadable", lambda: corrupt_png()),
}


def corrupt_png() -> bytes:
    """A real PNG whose compressed pixel data is overwritten: recognised, but cannot be decoded."""
    buf = io.BytesIO()
    image_corpus.photo().save(buf, "PNG")
    data = bytearray(buf.getvalue())
    start = data.index(b"IDAT") + 4
    data[start + 100 : start + 400] = bytes(range(256)) + bytes(44)
    return bytes(data)


@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in ("001", "002", "003"):
        image_corpus.photo().save(images / f"{i}.jpg", quality=90)
    for image_id, (reason, make) in BROKEN.items():
        if reason == "too small":
            Image.new("RGB", (10, 300)).save(images / f"{image_id}.jpg")
        elif make is not None:
            (images / f"{image_id}.jpg").write_bytes(make())
    image_corpus.photo().save(images / f"{KNOWN_CORRUPT_AVA[0]}.jpg")
    return images


def table(ids):
    return pd.DataFrame({"image_id": ids}, index=ids)


@pytest.mark.parametrize("workers", [1, 2])
def test_each_kind_of_broken_file_is_quarantined(folder, workers):
    ids = ["001", "002", "003", *BROKEN, KNOWN_CORRUPT_AVA[0]]
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    result = clean_labels(table(ids), folder, workers=workers, chunk=2, progress=False)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert before == after  # nothing modified, moved or deleted
    assert list(result.clean["image_id"]) == ["001", "002", "003"]
    reasons = dict(zip(result.quarantine["image_id"], result.quarantine["reason"], strict=True))
    assert reasons == {**{i: r for i, (r, _) in BROKEN.items()}, KNOWN_CORRUPT_AVA[0]: "known corrupt"}
    summary = result.summary()
    assert summary["checked"] == len(ids) and summary["images_per_s"] > 0


def test_check_image_accepts_awkward_but_valid(tmp_path):
    corpus = image_corpus.build(tmp_path / "c")
    for name in image_corpus.GOOD:
        assert check_image(corpus / name) is None, name
    Image.new("RGB", (11, 11)).save(tmp_path / "eleven.png")
    assert check_image(tmp_path / "eleven.png") is None


def test_an_id_that_is_not_plain_is_quarantined_never_opened(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    image_corpus.photo().save(tmp_path / "outside.jpg")  # a good image one folder up
    result = clean_labels(table(["../outside"]), images, workers=1, progress=False)
    assert result.clean.empty
    assert list(result.quarantine["reason"]) == ["bad id"] and list(result.quarantine["path"]) == [""]
