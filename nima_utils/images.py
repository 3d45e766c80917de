"""Reading photos for NIMA: any common format, from a path or bytes, safely, to model input.

Every failure is an `ImageLoadError` with a short reason, so callers can report it per image.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import stat
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from nima_utils.model.backbones import IMAGENET_BGR_MEAN, pixel_scaling

FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF", "TIFF")
"""Formats accepted (MPO is the multi-picture JPEG some cameras write)."""
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
"""Suffixes picked up when a folder is scanned."""
DEFAULT_MAX_PIXELS = 50_000_000
"""Images with more pixels are refused as possible decompression bombs (50 megapixels)."""
MIN_SIDE = 11
"""Images with a side of 10 px or less are not photos one can rate: refused (cleanup quarantines them)."""
MAX_SCANS = 100
"""Progressive JPEGs with more scans are refused: each scan passes over the whole image, so thousands of
tiny scans make a small file take minutes to decode. Encoders write about 10."""
_PILLOW_LIMIT_LOCK = threading.Lock()

_RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


class ImageLoadError(ValueError):
    """An input that cannot be used as a photo; the message says why, `kind` says what class of
    problem it is: missing, unreadable, empty, not_image, unsupported, too_large, too_small or corrupt."""

    def __init__(self, message: str, kind: str = "corrupt") -> None:
        super().__init__(message)
        self.kind = kind


def _to_8bit(arr: np.ndarray, float_data: bool) -> np.ndarray:
    """16/32-bit integer or float samples -> uint8, rounded: 0..65535 when any sample exceeds 255
    (else 0..255), floats in 0..1 when none exceeds 1. Integer images are converted in integer
    arithmetic, a band of rows at a time, so a 50-megapixel 16-bit image needs no gigabytes of floats."""
    top_value = arr.max(initial=0)
    if float_data:
        top = 1.0 if top_value <= 1.0 else 255.0
        return np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    out = np.empty(arr.shape, np.uint8)
    rows = max(1, (1 << 22) // max(1, arr[0].size))
    for start in range(0, arr.shape[0], rows):
        band = np.clip(arr[start : start + rows], 0, None).astype(np.int64)
        out[start : start + rows] = np.minimum((band * 255 + 32767) // 65535 if top_value > 255 else band, 255)
    return out


def _to_rgb(img: Image.Image) -> Image.Image:
    """Grayscale, palette, CMYK, 16-bit and alpha images -> 8-bit RGB (alpha over white)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        img = Image.fromarray(_to_8bit(np.asarray(img), img.mode == "F"), "L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB") if img.mode != "RGB" else img


def _allow_pixels(max_pixels: int) -> None:
    """Our `max_pixels` is the limit: raise Pillow's own (process-wide) bomb limit to it when it is
    larger, so Pillow never refuses an image we allow. It is only ever raised, under a lock."""
    with _PILLOW_LIMIT_LOCK:
        if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
            Image.MAX_IMAGE_PIXELS = max_pixels


def _too_many_pixels(max_pixels: int, width: int | None = None, height: int | None = None,
                     pixels: int | None = None) -> ImageLoadError:
    size = f"{width}x{height}" if width is not None else (f"{pixels:,} pixels" if pixels else "more pixels")
    return ImageLoadError(
        f"too many pixels ({size} > {max_pixels:,}): refused as a possible decompression bomb", "too_large"
    )


def _check_path(fp: Path) -> None:
    """Refuse what is not a readable, non-empty regular file before Pillow opens it (a FIFO would block)."""
    try:
        info = fp.stat()
    except FileNotFoundError:
        raise ImageLoadError("no such file", "missing") from None
    except PermissionError:
        raise ImageLoadError("not readable (permission denied)", "unreadable") from None
    except OSError as exc:
        raise ImageLoadError(f"not readable ({exc.strerror or exc})", "unreadable") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageLoadError("is a folder, not an image", "missing")
    if not stat.S_ISREG(info.st_mode):
        raise ImageLoadError("not a regular file", "unsupported")
    if info.st_size == 0:
        raise ImageLoadError("empty file", "empty")


def _jpeg_scans(fp: io.BytesIO | Path) -> int:
    """How many scans (SOS markers) a JPEG holds, at most: entropy-coded data never contains 0xFFDA,
    as every 0xFF in it is stuffed with 0x00."""
    data = fp.getvalue() if isinstance(fp, io.BytesIO) else fp.read_bytes()
    return data.count(b"\xff\xda")


def decode_image(source: str | Path | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open and fully decode a photo (first frame if animated), as stored: no orientation or mode
    change. The format is sniffed from the content, never from the name. Refused: more than
    `max_pixels` pixels, a side under MIN_SIDE. This is the check that cleanup runs on every file;
    `load_image` builds on it."""
    _allow_pixels(max_pixels)
    try:
        fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else Path(source)
        if isinstance(fp, io.BytesIO) and fp.getbuffer().nbytes == 0:
            raise ImageLoadError("empty file", "empty")
        if isinstance(fp, Path):
            _check_path(fp)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fp)
            if img.format not in FORMATS:
                raise ImageLoadError(f"unsupported image format {img.format}", "unsupported")
            width, height = img.size
            if width * height > max_pixels:
                raise _too_many_pixels(max_pixels, width, height)
            if width < 1 or height < 1:
                raise ImageLoadError("image has no pixels", "corrupt")
            if min(width, height) < MIN_SIDE:
                raise ImageLoadError(f"too small ({width}x{height} px; a side must exceed {MIN_SIDE - 1} px)",
                                     "too_small")
            if img.format in ("JPEG", "MPO") and img.info.get("progressive"):
                scans = _jpeg_scans(fp)
                if scans > MAX_SCANS:
                    raise ImageLoadError(f"progressive JPEG with {scans:,} scans (more than {MAX_SCANS}): refused, as "
                                         "decoding it would take far longer than a photo's", "too_large")
            img.seek(0)
            img.load()
            if img.size[0] * img.size[1] > max_pixels:  # a GIF's canvas can grow while its frame loads
                raise _too_many_pixels(max_pixels, *img.size)
            return img
    except ImageLoadError:
        raise
    except Image.UnidentifiedImageError:
        raise ImageLoadError("not an image (unrecognised content)", "not_image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's check fired first (its limit is at least ours): report our limit, not Pillow's.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_many_pixels(max_pixels, pixels=int(found.group(1)) if found else None) from None
    except PermissionError:
        raise ImageLoadError("not readable (permission denied)", "unreadable") from None
    except OSError as exc:
        reason = "truncated image file" if "truncated" in str(exc) else f"corrupt image data ({exc})"
        raise ImageLoadError(reason) from None
    except Exception as exc:
        raise ImageLoadError(f"corrupt image ({type(exc).__name__}: {exc})") from None


def load_image(source: str | Path | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open a photo from a path or bytes as an upright 8-bit RGB image (first frame if animated).

    The format is sniffed from the content, never from the name; EXIF orientation is applied.
    """
    img = decode_image(source, max_pixels)
    try:
        if img.getexif().get(0x0112, 1) != 1:
            img = ImageOps.exif_transpose(img)
        return _to_rgb(img)
    except Exception as exc:
        raise ImageLoadError(f"corrupt image ({type(exc).__name__}: {exc})") from None


def resize(img: Image.Image, size: int, method: str = "nearest") -> np.ndarray:
    """Squash to size x size with the model card's interpolation -> uint8 array (size, size, 3)."""
    if method not in _RESAMPLING:
        raise ValueError(f"unknown resize method {method!r}")
    return np.asarray(img.resize((size, size), _RESAMPLING[method]), dtype=np.uint8)


def centre_crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """The central size x size window of an (H, W, C) array (offsets rounded down, as tf.image)."""
    top, left = (pixels.shape[0] - size) // 2, (pixels.shape[1] - size) // 2
    return pixels[top : top + size, left : left + size]


def model_view(
    img: Image.Image, input_size: int, method: str = "nearest", resize_size: int | None = None
) -> np.ndarray:
    """What a model card says the model sees: squash to input_size, or (resize_size set) squash to
    resize_size and take the centre input_size crop, as evaluation of the training cache does."""
    if resize_size is None or resize_size == input_size:
        return resize(img, input_size, method)
    return centre_crop(resize(img, resize_size, method), input_size)


def preprocess(batch: np.ndarray, method: str = "mobilenet") -> np.ndarray:
    """uint8 RGB -> the backbone's input scaling (`model.backbones.PIXEL_SCALING`), as Keras'
    `preprocess_input` of that backbone: [-1, 1], or BGR minus the ImageNet mean (VGG16)."""
    scaling = pixel_scaling(method)
    x = np.asarray(batch, dtype=np.float32)
    return x / 127.5 - 1.0 if scaling == "tf" else x[..., ::-1] - IMAGENET_BGR_MEAN


@dataclasses.dataclass
class ImageScan:
    """What `scan_images` found: image files to try, and (path, reason) for folders it could not read."""

    files: list[Path]
    problems: list[tuple[Path, str]]


def scan_images(paths: list[str | Path]) -> ImageScan:
    """Expand files and folders (recursively, by image suffix; links to folders are not followed)
    into a sorted list of files, recording every folder that cannot be listed instead of skipping it.

    Files named explicitly are kept whatever their suffix (and reported if they are not images); so
    are broken links and other non-folder entries with an image suffix, so each gets its own row.
    """
    scan = ImageScan([], [])

    def unreadable(exc: OSError) -> None:
        reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
        scan.problems.append((Path(exc.filename), f"folder not readable ({reason})"))

    for p in map(Path, paths):
        try:
            is_dir = p.is_dir()
        except OSError:
            is_dir = False  # decoding will say what is wrong with it
        if not is_dir:
            scan.files.append(p)
            continue
        found: list[Path] = []
        for folder, _, names in os.walk(p, onerror=unreadable):
            found.extend(Path(folder, n) for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES)
        scan.files.extend(sorted(found))
    return scan


def find_images(paths: list[str | Path]) -> list[Path]:
    """The image files `scan_images` finds (unreadable folders left out)."""
    return scan_images(paths).files
