"""The NIMA network: an ImageNet backbone, dropout and a 10-way softmax over the rating buckets."""

from __future__ import annotations

import keras

from nima_utils.model.backbones import BACKBONES, Backbone
from nima_utils.model.card import ModelCard

__all__ = ["BACKBONES", "HEAD_LAYERS", "build_from_card", "build_nima"]


def _build_base(spec: Backbone, input_size: int, alpha: float, weights: str | None) -> keras.Model:
    """The Keras application of `spec` without its top, pooled to one vector per image."""
    factory = getattr(keras.applications, spec.keras_application)
    extra = {"alpha": alpha} if spec.has_alpha else {}
    return factory(input_shape=(input_size, input_size, 3), include_top=False, pooling="avg", weights=weights,
                   **extra)


HEAD_LAYERS = ("dropout", "scores")
"""Names of the layers NIMA adds on top of the backbone: the 'head' of two-rate training."""


def _symmetric_padding(model: keras.Model) -> keras.Model:
    """Keras <= 2.1 MobileNet padded (1, 1) before every stride-2 convolution (conv1 included);
    Keras 3 pads ((0, 1), (0, 1)) like TF-slim. Weights trained under the old layout (idealo's,
    titu1994's) score best on it, so rebuild the chain that way with the same layers and weights."""
    inputs = keras.Input(model.input_shape[1:])
    x = inputs
    for layer in model.layers[1:]:
        config = layer.get_config()
        if isinstance(layer, keras.layers.ZeroPadding2D):
            x = keras.layers.ZeroPadding2D(padding=1, name=layer.name)(x)
            continue
        if isinstance(layer, keras.layers.Conv2D) and config.get("padding") == "same" and max(layer.strides) > 1:
            x = keras.layers.ZeroPadding2D(padding=1, name=f"{layer.name}_pad")(x)
            config["padding"] = "valid"
        x = layer.__class__.from_config(config)(x)
    rebuilt = keras.Model(inputs, x, name=model.name)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def build_nima(
    backbone: str = "mobilenet",
    weights: str | None = "imagenet",
    dropout: float = 0.75,
    input_size: int = 224,
    alpha: float = 1.0,
    padding: str = "same",
) -> keras.Model:
    """Backbone (no top, global average pooling) -> Dropout -> Dense(10, softmax), as in the paper.

    `weights` are the backbone's initial weights ("imagenet" or None); `padding="symmetric"`
    reproduces the Keras 2.1 layout that community NIMA weights were trained with.
    """
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; available: {', '.join(BACKBONES)}")
    spec = BACKBONES[backbone]
    if not spec.has_alpha and alpha != 1.0:
        raise ValueError(f"backbone {backbone!r} has no width multiplier: alpha must be 1.0, got {alpha}")
    if padding == "symmetric" and backbone != "mobilenet":
        raise ValueError("padding='symmetric' (the Keras 2.1 layout) exists for MobileNet only")
    base = _build_base(spec, input_size, alpha, weights)
    x = keras.layers.Dropout(dropout, name="dropout")(base.output)
    out = keras.layers.Dense(10, activation="softmax", name="scores", dtype="float32")(x)  # fp32 under mixed precision
    model = keras.Model(base.input, out, name=f"nima_{backbone}")
    if padding == "symmetric":
        model = _symmetric_padding(model)
    elif padding != "same":
        raise ValueError(f"padding must be 'same' or 'symmetric', got {padding!r}")
    return model


def build_from_card(card: ModelCard, weights: str | None = None) -> keras.Model:
    """The architecture a model card describes, with backbone weights `weights` (None: random)."""
    return build_nima(
        backbone=card.backbone,
        weights=weights,
        dropout=card.dropout,
        input_size=card.input_size,
        alpha=card.alpha,
        padding=card.padding,
    )


def pooled_features(model: keras.Model) -> keras.Model:
    """The NIMA model up to its pooled backbone features (the input of its dropout and head): what the
    head phase trains on, without the dropout's random state."""
    return keras.Model(model.inputs, model.get_layer("dropout").input)
