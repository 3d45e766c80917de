"""Grad-CAM (Selvaraju et al. 2017) for NIMA: which regions of the photo, as the model sees it, push
the predicted mean score (or the probability mass above 5) up.

The map is taken on the backbone's last convolutional block, found generically as the last layer
with a 4-D (batch, height, width, channels) output, so it works for every backbone of the registry.
Gradients come from TensorFlow (`tf.GradientTape`): Keras 3 must run on its TensorFlow backend.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from PIL import Image

from nima_utils.model.metrics import SCORES

TARGETS = {
    "mean": "the predicted mean score",
    "above5": "the predicted probability of a score above 5 (buckets 6 to 10)",
}
"""What a map can explain, by name."""


@dataclasses.dataclass
class Saliency:
    """One photo's Grad-CAM map: `heatmap` is (height, width) of the model input, in [0, 1]."""

    heatmap: np.ndarray
    coarse: np.ndarray
    """The map at the layer's own resolution (before upsampling), in [0, 1]."""
    layer: str
    target: str
    value: float
    """The target's value for this photo (the mean score, or the mass above 5)."""


def last_conv_layer(model: keras.Model) -> keras.layers.Layer:
    """The last layer with a 4-D output before global pooling: the last convolutional block."""
    found = None
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = getattr(shape, "shape", None)
        if shape is not None and len(shape) == 4 and not isinstance(layer, keras.layers.InputLayer):
            found = layer
    if found is None:
        raise ValueError(f"model {model.name!r} has no layer with a 4-D output to take a Grad-CAM map on")
    return found


def _target(probs, target: str):
    import tensorflow as tf

    probs = tf.cast(probs, tf.float32)
    if target == "mean":
        return tf.reduce_sum(probs * tf.constant(SCORES, tf.float32), axis=-1)
    return tf.reduce_sum(probs[:, 5:], axis=-1)


class GradCam:
    """Grad-CAM maps of one NIMA model on its last convolutional block (or the layer named)."""

    def __init__(self, model: keras.Model, layer: str | None = None) -> None:
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(f"Grad-CAM needs Keras' TensorFlow backend (KERAS_BACKEND={keras.backend.backend()})")
        self.layer = model.get_layer(layer) if layer else last_conv_layer(model)
        self.model = model
        self._grad_model = keras.Model(model.inputs, [self.layer.output, model.output])

    def maps(self, batch: np.ndarray, target: str = "mean") -> list[Saliency]:
        """Maps for a preprocessed batch (N, size, size, 3), one per photo, explaining `target`."""
        import tensorflow as tf

        if target not in TARGETS:
            raise ValueError(f"unknown Grad-CAM target {target!r}; available: {', '.join(TARGETS)}")
        x = tf.convert_to_tensor(np.asarray(batch, dtype=np.float32))
        if x.shape.rank != 4:
            raise ValueError(f"expected a batch (N, height, width, 3), got shape {tuple(x.shape)}")
        with tf.GradientTape() as tape:
            features, probs = self._grad_model(x, training=False)
            values = _target(probs, target)
        grads = tf.cast(tape.gradient(values, features), tf.float32)
        features = tf.cast(features, tf.float32)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # one weight per channel
        cams = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1)).numpy()
        size = (x.shape[2], x.shape[1])
        return [Saliency(_upsample(_unit(cam), size), _unit(cam), self.layer.name, target, float(v))
                for cam, v in zip(cams, values.numpy(), strict=True)]


def _unit(cam: np.ndarray) -> np.ndarray:
    """Scale a non-negative map to [0, 1] by its maximum (all zeros stays zeros)."""
    top = float(cam.max())
    return (cam / top if top > 0 else np.zeros_like(cam)).astype(np.float32)


def _upsample(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a [0, 1] map to (width, height) `size`, clipped back into [0, 1]."""
    img = Image.fromarray(cam.astype(np.float32), mode="F").resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)


def overlay(pixels: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
    """The map in colour over the photo as the model saw it (uint8 RGB, same size): weight `alpha`
    where the map is 1, fading to the bare photo where it is 0."""
    from matplotlib import colormaps

    if pixels.shape[:2] != heatmap.shape:
        raise ValueError(f"photo {pixels.shape[:2]} and map {heatmap.shape} differ in size")
    colour = colormaps[cmap](heatmap)[..., :3] * 255.0
    weight = alpha * heatmap[..., None]
    blended = (1.0 - weight) * pixels.astype(np.float32) + weight * colour
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
