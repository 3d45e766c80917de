"""Photo edits of sensitivity studies: identity is a no-op, and each moves the image the way it says."""

import itertools

import numpy as np
import pytest
from PIL import Image

from nima_utils.study import perturbations
from nima_utils.study.perturbations import PERTURBATIONS
from tests.image_corpus import photo


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    return photo()


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float64)


def high_frequency_energy(img: Image.Image) -> float:
    """Mean squared discrete Laplacian of the luminance: what blur removes and sharpening adds."""
    g = pixels(img.convert("L"))
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(np.mean(lap**2))


def chroma(img: Image.Image) -> float:
    """Mean spread of the three channels at a pixel: 0 for a grey image."""
    return float(pixels(img).std(axis=2).mean())


def strictly_increasing(values: list[float]) -> bool:
    return all(b > a for a, b in itertools.pairwise(values))


def test_registry_ranges_hold_their_identity_in_increasing_order():
    assert next(iter(PERTURBATIONS)) == "contrast"
    assert set(PERTURBATIONS) == {"contrast", "brightness", "saturation", "sharpness", "blur", "jpeg", "noise"}
    for p in PERTURBATIONS.values():
        assert p.identity in p.factors, p.name
        assert list(p.factors) == sorted(set(p.factors)), p.name
        assert len(p.factors) >= 4, p.name


@pytest.mark.parametrize("name", [n for n, p in PERTURBATIONS.items() if p.exact_identity])
def test_identity_factor_is_exactly_a_no_op(chelsea, name):
    p = PERTURBATIONS[name]
    out = p(chelsea, p.identity)
    assert out.mode == "RGB" and out.size == chelsea.size
    assert np.array_equal(np.asarray(out), np.asarray(chelsea))


def test_jpeg_identity_differs_by_jpeg_noise_only(chelsea):
    """Quality 100 must re-encode (4:2:0 chroma subsampling and rounding): close, not equal."""
    out = PERTURBATIONS["jpeg"](chelsea, 100)
    error = np.abs(pixels(out) - pixels(chelsea))
    assert out.size == chelsea.size
    assert 0 < error.mean() < 1.0  # about 0.7 of 255 levels on this photo
    assert not PERTURBATIONS["jpeg"].exact_identity


def test_every_perturbation_changes_the_photo_away_from_identity(chelsea):
    for p in PERTURBATIONS.values():
        far = max(p.factors, key=lambda f: abs(f - p.identity))
        assert np.abs(pixels(p(chelsea, far)) - pixels(chelsea)).mean() > 2.0, p.name


def test_contrast_raises_pixel_std(chelsea):
    stds = [pixels(perturbations.contrast(chelsea, f)).std() for f in PERTURBATIONS["contrast"].factors]
    assert strictly_increasing(stds)
    assert pixels(perturbations.contrast(chelsea, 0.0)).std() < 1.0  # flat grey


def test_brightness_raises_mean_level(chelsea):
    means = [pixels(perturbations.brightness(chelsea, f)).mean() for f in PERTURBATIONS["brightness"].factors]
    assert strictly_increasing(means)


def test_saturation_raises_chroma_from_grey(chelsea):
    values = [chroma(perturbations.saturation(chelsea, f)) for f in PERTURBATIONS["saturation"].factors]
    assert values[0] < 0.6  # factor 0 is greyscale (up to rounding)
    assert strictly_increasing(values)


def test_sharpness_raises_and_blur_lowers_high_frequency_energy(chelsea):
    sharp = [high_frequency_energy(perturbations.sharpness(chelsea, f)) for f in PERTURBATIONS["sharpness"].factors]
    blurred = [high_frequency_energy(perturbations.blur(chelsea, r)) for r in PERTURBATIONS["blur"].factors]
    assert strictly_increasing(sharp)
    assert strictly_increasing(blurred[::-1])


def test_noise_raises_deviation_and_is_seeded(chelsea):
    deviations = [np.abs(pixels(perturbations.noise(chelsea, s)) - pixels(chelsea)).mean()
                  for s in PERTURBATIONS["noise"].factors]
    assert deviations[0] == 0
    assert strictly_increasing(deviations)
    a, b = perturbations.noise(chelsea, 10, seed=1), perturbations.noise(chelsea, 10, seed=1)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(perturbations.noise(chelsea, 10, seed=2)))
    assert np.array_equal(np.asarray(PERTURBATIONS["noise"](chelsea, 10, seed=2)),
                          np.asarray(perturbations.noise(chelsea, 10, seed=2)))


def test_jpeg_error_falls_as_quality_rises(chelsea):
    errors = [np.abs(pixels(perturbations.jpeg(chelsea, q)) - pixels(chelsea)).mean()
              for q in PERTURBATIONS["jpeg"].factors]
    assert strictly_increasing(errors[::-1])


def test_greyscale_input_comes_back_rgb(chelsea):
    grey = chelsea.convert("L")
    for p in PERTURBATIONS.values():
        assert p(grey, p.factors[1]).mode == "RGB", p.name


@pytest.mark.parametrize(("name", "factor", "message"), [
    ("jpeg", 0, "quality"), ("jpeg", 101, "quality"), ("blur", -1, "radius"), ("noise", -2, "sigma")])
def test_out_of_range_factors_are_refused(chelsea, name, factor, message):
    with pytest.raises(ValueError, match=message):
        PERTURBATIONS[name](chelsea, factor)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="available: contrast, brightness"):
        perturbations.get("vignette")
    assert perturbations.get("blur").identity == 0.0
