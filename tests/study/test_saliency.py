"""Grad-CAM maps: shape and range, a constructed model whose answer is known, every backbone."""

import keras
import numpy as np
import pytest

from nima_utils.model.network import BACKBONES, build_nima
from nima_utils.study.saliency import GradCam, last_conv_layer, overlay

SIDE = 32


def _quadrant_model(rows: slice, cols: slice) -> keras.Model:
    """A NIMA-shaped model that sees only one quadrant of its input: the input is masked to it, a
    bias-free convolution keeps zeros zero, and more activation means a higher mean score."""
    mask = np.zeros((1, SIDE, SIDE, 1), np.float32)
    mask[:, rows, cols] = 1.0
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Lambda(lambda t: t * mask, name="quadrant")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, activation="relu", name="conv",
                            kernel_initializer=keras.initializers.Constant(0.1))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    ramp = np.tile(np.linspace(-1.0, 1.0, 10, dtype=np.float32), (4, 1))  # pushes mass to high buckets
    out = keras.layers.Dense(10, activation="softmax", name="scores",
                             kernel_initializer=keras.initializers.Constant(ramp))(x)
    return keras.Model(inputs, out)


@pytest.mark.parametrize("target", ["mean", "above5"])
@pytest.mark.parametrize(("rows", "cols"), [(slice(0, 16), slice(0, 16)), (slice(16, 32), slice(0, 16))])
def test_a_model_that_sees_one_quadrant_lights_that_quadrant(rows, cols, target):
    model = _quadrant_model(rows, cols)
    photo = np.random.default_rng(0).uniform(0.2, 1.0, (2, SIDE, SIDE, 3)).astype(np.float32)
    cam = GradCam(model)
    assert cam.layer.name == "conv"
    for saliency in cam.maps(photo, target):
        heat = saliency.heatmap
        assert heat.shape == (SIDE, SIDE) and heat.dtype == np.float32
        assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
        inside = np.zeros_like(heat, dtype=bool)
        inside[rows, cols] = True
        far = np.ones_like(inside)  # beyond the convolution's one-pixel reach and the upsampling's blur
        far[max(rows.start - 3, 0):rows.stop + 3, max(cols.start - 3, 0):cols.stop + 3] = False
        assert heat[inside].mean() > 0.5 and heat[far].max() < 0.05
        assert heat[inside].sum() > 0.9 * heat.sum()


def test_the_target_value_is_the_models_mean_and_mass_above_5():
    model = _quadrant_model(slice(0, 16), slice(0, 16))
    photo = np.full((1, SIDE, SIDE, 3), 0.5, np.float32)
    probs = np.asarray(model(photo))[0]
    cam = GradCam(model)
    assert cam.maps(photo, "mean")[0].value == pytest.approx(float(probs @ np.arange(1, 11)), rel=1e-5)
    assert cam.maps(photo, "above5")[0].value == pytest.approx(float(probs[5:].sum()), rel=1e-5)
    with pytest.raises(ValueError, match="unknown Grad-CAM target"):
        cam.maps(photo, "median")


@pytest.mark.parametrize(("backbone", "layer"), [("mobilenet", "conv_pw_13_relu"), ("mobilenet_v2", "out_relu"),
                                                 ("vgg16", "block5_pool"), ("inception_v3", "mixed10")])
def test_every_backbone_builds_a_map_on_its_last_conv_block(backbone, layer):
    size = max(BACKBONES[backbone].min_input, SIDE)
    alpha = 0.25 if BACKBONES[backbone].has_alpha else 1.0
    model = build_nima(backbone, weights=None, input_size=size, alpha=alpha)
    assert last_conv_layer(model).name == layer
    batch = np.random.default_rng(1).uniform(-1, 1, (1, size, size, 3)).astype(np.float32)
    saliency = GradCam(model).maps(batch)[0]
    assert saliency.layer == layer and saliency.heatmap.shape == (size, size)
    assert np.isfinite(saliency.heatmap).all() and 0.0 <= saliency.heatmap.min() <= saliency.heatmap.max() <= 1.0
    assert 1.0 <= saliency.value <= 10.0


def test_overlay_keeps_the_photo_where_the_map_is_zero_and_refuses_other_sizes():
    pixels = np.full((8, 8, 3), 100, np.uint8)
    heat = np.zeros((8, 8), np.float32)
    heat[:4] = 1.0
    out = overlay(pixels, heat)
    assert out.shape == pixels.shape and out.dtype == np.uint8
    assert (out[4:] == 100).all() and (out[:4] != 100).any()
    with pytest.raises(ValueError, match="differ in size"):
        overlay(pixels, np.zeros((4, 4), np.float32))
