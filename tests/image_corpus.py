"""Builds a folder of good and awkward image files for loader, CLI and service tests."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

GOOD = ("photo.jpg", "alpha.png", "cmyk.jpg", "rotated.jpg", "gray.png", "palette.gif", "anim.gif",
        "sixteen.png", "photo.webp", "photo.bmp", "photo.tiff", "progressive.jpg")
BAD = {"truncated.jpg": "truncated", "text.jpg": "not an image", "empty.jpg": "empty", "bomb.png": "pixels",
       "scans.jpg": "scans"}


def photo() -> Image.Image:
    return Image.fromarray(data.chelsea())  # 451 x 300 RGB photograph


def jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def bomb_png() -> bytes:
    """A tiny file that declares 30000 x 30000 pixels (900 MP), as decompression bombs do."""
    buf = io.BytesIO()
    Image.new("1", (30000, 30000)).save(buf, "PNG")
    return buf.getvalue()


def scan_bomb_jpeg(img: Image.Image, scans: int = 600) -> bytes:
    """A progressive JPEG with its smallest scan repeated: a small file whose every scan passes over the
    whole image again, the decoding-time attack on image services (libjpeg only warns of it)."""
    data = jpeg_bytes(img, progressive=True)
    starts = [i for i in range(len(data) - 1) if data[i : i + 2] == b"\xff\xda"] + [len(data) - 2]
    smallest = min(itertools.pairwise(starts), key=lambda span: span[1] - span[0])
    return data[:-2] + data[smallest[0] : smallest[1]] * scans + b"\xff\xd9"


def build(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    img = photo()
    (folder / "photo.jpg").write_bytes(jpeg_bytes(img))
    rgba = img.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(img.size))
    rgba.save(folder / "alpha.png")
    img.convert("CMYK").save(folder / "cmyk.jpg", "JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    (folder / "rotated.jpg").write_bytes(jpeg_bytes(img, exif=exif.tobytes()))
    img.convert("L").save(folder / "gray.png")
    img.convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.gif")
    frames = [img, img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    sixteen = (np.asarray(img.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(sixteen).save(folder / "sixteen.png")
    img.save(folder / "photo.webp", quality=90)
    img.save(folder / "photo.bmp")
    img.save(folder / "photo.tiff")
    full = jpeg_bytes(img)
    (folder / "truncated.jpg").write_bytes(full[: len(full) // 3])
    (folder / "text.jpg").write_text("this is not a photo\n")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "bomb.png").write_bytes(bomb_png())
    (folder / "progressive.jpg").write_bytes(jpeg_bytes(img, progressive=True))
    (folder / "scans.jpg").write_bytes(scan_bomb_jpeg(img))
    return folder
