"""Photo edits for sensitivity studies: each maps (PIL image, factor) to a new RGB image.

The registry `PERTURBATIONS` gives each one a default range of factors and its identity factor
(the factor that leaves the photo as it is). Every one is a no-op at its identity factor, except
`jpeg`, which must re-encode: at quality 100 it differs from the original by JPEG noise only.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter


def contrast(img: Image.Image, factor: float) -> Image.Image:
    """Pillow's contrast: blend with the mean grey; 0 is flat grey, 1 the original, >1 stronger."""
    return ImageEnhance.Contrast(img.convert("RGB")).enhance(factor)


def brightness(img: Image.Image, factor: float) -> Image.Image:
    """Pillow's brightness: scale towards black; 0 is black, 1 the original, >1 brighter (clipped)."""
    return ImageEnhance.Brightness(img.convert("RGB")).enhance(factor)


def saturation(img: Image.Image, factor: float) -> Image.Image:
    """Pillow's colour balance: 0 is greyscale, 1 the original, >1 more saturated."""
    return ImageEnhance.Color(img.convert("RGB")).enhance(factor)


def sharpness(img: Image.Image, factor: float) -> Image.Image:
    """Pillow's sharpness: 0 is Pillow's smoothed image, 1 the original, >1 sharpened."""
    return ImageEnhance.Sharpness(img.convert("RGB")).enhance(factor)


def blur(img: Image.Image, radius: float) -> Image.Image:
    """Gaussian blur with `radius` (the standard deviation, in pixels of the image as given); 0 is the original."""
    if radius < 0:
        raise ValueError(f"blur radius must be >= 0, got {radius}")
    return img.convert("RGB").filter(ImageFilter.GaussianBlur(radius))


def jpeg(img: Image.Image, quality: float) -> Image.Image:
    """Re-encode as JPEG at `quality` (1..100) with Pillow's defaults (4:2:0 chroma subsampling, as
    most cameras and web encoders), decoded back. Even quality 100 is lossy by a little JPEG noise."""
    q = round(quality)
    if not 1 <= q <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=q)
    with Image.open(io.BytesIO(buf.getvalue())) as decoded:
        return decoded.convert("RGB")


def noise(img: Image.Image, sigma: float, seed: int = 0) -> Image.Image:
    """Add Gaussian noise of standard deviation `sigma` (in 0..255 levels), clipped. The noise
    pattern depends on the seed and the image size only, so larger sigmas scale the same pattern."""
    if sigma < 0:
        raise ValueError(f"noise sigma must be >= 0, got {sigma}")
    rgb = img.convert("RGB")
    pattern = np.random.default_rng(seed).standard_normal((rgb.height, rgb.width, 3), dtype=np.float32)
    arr = np.asarray(rgb, dtype=np.float32) + np.float32(sigma) * pattern
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")


@dataclasses.dataclass(frozen=True)
class Perturbation:
    """One photo edit: how to apply it, what its factor means, its identity and default range."""

    name: str
    apply: Callable[[Image.Image, float], Image.Image]
    identity: float
    factors: tuple[float, ...]
    """The default range, in increasing order, identity included."""
    factor_label: str
    exact_identity: bool = True
    """False where the identity factor cannot be exact (JPEG must re-encode)."""
    seeded: bool = False
    """True where `apply` takes a `seed` keyword (noise)."""

    def __call__(self, img: Image.Image, factor: float, seed: int = 0) -> Image.Image:
        if self.seeded:
            return self.apply(img, factor, seed=seed)  # type: ignore[call-arg]
        return self.apply(img, factor)


PERTURBATIONS: dict[str, Perturbation] = {
    p.name: p
    for p in (
        Perturbation("contrast", contrast, 1.0, (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0), "contrast factor"),
        Perturbation("brightness", brightness, 1.0, (0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0), "brightness factor"),
        Perturbation("saturation", saturation, 1.0, (0.0, 0.5, 1.0, 1.5, 2.0, 3.0), "saturation factor"),
        Perturbation("sharpness", sharpness, 1.0, (0.0, 0.5, 1.0, 2.0, 4.0, 8.0), "sharpness factor"),
        Perturbation("blur", blur, 0.0, (0.0, 1.0, 2.0, 4.0, 8.0), "Gaussian blur radius (px)"),
        Perturbation("jpeg", jpeg, 100.0, (5.0, 10.0, 20.0, 40.0, 70.0, 100.0), "JPEG quality",
                     exact_identity=False),
        Perturbation("noise", noise, 0.0, (0.0, 5.0, 10.0, 20.0, 40.0), "noise sigma (levels of 255)", seeded=True),
    )
}
"""Every perturbation by name, in the order studies show them (contrast first)."""


def get(name: str) -> Perturbation:
    """The perturbation called `name`, or a ValueError listing the known ones."""
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {name!r}; available: {', '.join(PERTURBATIONS)}")
    return PERTURBATIONS[name]
