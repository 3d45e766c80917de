"""Real photographs shipped inside scikit-image's package data, for demos and tests (offline)."""

from __future__ import annotations

from pathlib import Path

import skimage

PHOTOS = (
    "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "grass.png",
    "gravel.png", "hubble_deep_field.jpg", "moon.png", "motorcycle_left.png", "page.png", "retina.jpg",
    "rocket.jpg",
)


def sample_photos() -> list[Path]:
    """Paths of the photographs (color and grayscale) that scikit-image installs with itself."""
    folder = Path(skimage.__file__).parent / "data"
    paths = [folder / name for name in PHOTOS]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"scikit-image's package data lacks {', '.join(missing)} in {folder}")
    return paths


if __name__ == "__main__":
    print("\n".join(map(str, sample_photos())))
