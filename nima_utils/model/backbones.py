"""The backbones NIMA can stand on, one row each (as timm's pretrained configs): the Keras application,
the pixel scaling its ImageNet weights expect, the input sizes it takes, its ImageNet weights file.

Plain data, importable without TensorFlow: cards, configs and the pipeline's checks read it instantly;
`network` builds the models from it, `images.preprocess` and `cache.scale_pixels` scale pixels by it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

IMAGENET_BGR_MEAN = np.array([103.939, 116.779, 123.68], dtype=np.float32)
"""The ImageNet mean pixel (B, G, R) that Caffe-style scaling subtracts."""
PIXEL_SCALING = {"mobilenet": "tf", "mobilenet_v2": "tf", "inception_v3": "tf", "vgg16": "caffe"}
"""A card's `preprocessing` name -> how pixels are scaled, as Keras' `preprocess_input` of that backbone:
"tf" maps uint8 to [-1, 1], "caffe" is BGR minus `IMAGENET_BGR_MEAN`."""


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A Keras application used as NIMA's base, and the facts about it that do not need Keras."""

    name: str
    keras_application: str
    """The class in `keras.applications` (built with include_top=False, pooling="avg")."""
    preprocessing: str
    """A name of `PIXEL_SCALING`: the pixel scaling its ImageNet weights expect."""
    imagenet_file_template: str
    """The ImageNet weights file Keras looks for under ~/.keras/models ({alpha}, {rows} filled in)."""
    has_alpha: bool = False
    """Whether the width multiplier `alpha` applies (MobileNets); others need alpha 1.0."""
    min_input: int = 32
    """The smallest input side the Keras application accepts."""
    default_input: int = 224
    """The input side its ImageNet weights were trained at."""
    imagenet_sizes: tuple[int, ...] = ()
    """Input sides with ImageNet weights of their own (others load the default side's)."""

    def imagenet_file(self, alpha: float = 1.0, input_size: int | None = None) -> str:
        """The file name `keras.applications.<backbone>(weights="imagenet", include_top=False)` looks for."""
        rows = input_size if input_size in self.imagenet_sizes else self.default_input
        if self.name == "mobilenet":  # Keras names MobileNet's files by alpha digits, MobileNetV2's by the float
            alpha_text = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0"}.get(alpha, "2_5")
        else:
            alpha_text = str(float(alpha))
        return self.imagenet_file_template.format(alpha=alpha_text, rows=rows)


BACKBONES: dict[str, Backbone] = {b.name: b for b in (
    Backbone("mobilenet", "MobileNet", "mobilenet", "mobilenet/mobilenet_{alpha}_{rows}_tf_no_top.h5",
             has_alpha=True, imagenet_sizes=(128, 160, 192, 224)),
    Backbone("mobilenet_v2", "MobileNetV2", "mobilenet_v2",
             "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}_no_top.h5",
             has_alpha=True, imagenet_sizes=(96, 128, 160, 192, 224)),
    Backbone("vgg16", "VGG16", "vgg16", "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    Backbone("inception_v3", "InceptionV3", "inception_v3",
             "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", min_input=75, default_input=299),
)}
"""Backbones by name. MobileNet is the default (the community's weights); VGG16 is the seed PyTorch
port's; Inception-v3 stands in for the paper's Inception-v2, which Keras does not ship."""


def pixel_scaling(preprocessing: str) -> str:
    """"tf" or "caffe" for a card's `preprocessing` name; any other name is a ValueError."""
    if preprocessing not in PIXEL_SCALING:
        raise ValueError(f"unknown preprocessing {preprocessing!r}")
    return PIXEL_SCALING[preprocessing]
