"""Real photographs shipped inside installed packages' data (scikit-image's, one of matplotlib's),
for demos and tests (offline). Each is tagged with its kind of content: a scene or object, or a texture."""

from __future__ import annotations

from pathlib import Path

PHOTOS = {
    # file name: kind ("scene": objects, people, places; "texture": a surface that fills the frame)
    "astronaut.png": "scene", "brick.png": "texture", "camera.png": "scene", "cell.png": "scene",
    "chelsea.png": "scene", "coffee.png": "scene", "coins.png": "scene", "grass.png": "texture",
    "gravel.png": "texture", "hubble_deep_field.jpg": "scene", "ihc.png": "scene", "moon.png": "scene",
    "motorcycle_left.png": "scene", "page.png": "scene", "retina.jpg": "scene", "rocket.jpg": "scene",
    "text.png": "scene", "grace_hopper.jpg": "scene",
}
"""scikit-image's photographs (not its drawings, its 102 px crop, its motion-blurred clock or the right
half of its stereo pair) and matplotlib's one photograph, grace_hopper.jpg."""
MATPLOTLIB = ("grace_hopper.jpg",)


def _folder(name: str) -> Path:
    if name in MATPLOTLIB:
        import matplotlib

        return Path(matplotlib.get_data_path()) / "sample_data"
    import skimage

    return Path(skimage.__file__).parent / "data"


def sample_photos() -> list[Path]:
    """Paths of the photographs (colour and greyscale) that scikit-image and matplotlib install with themselves."""
    paths = [_folder(name) / name for name in PHOTOS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"installed package data lacks {', '.join(missing)}")
    return paths


def kind(photo: str | Path) -> str:
    """"scene" or "texture", for a photo of `sample_photos()` (by path or file name)."""
    return PHOTOS[Path(photo).name]


if __name__ == "__main__":
    print("\n".join(map(str, sample_photos())))
