"""The NIMA training loss: squared earth mover's distance on cumulative distributions."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nima")
def emd_loss(y_true, y_pred, r: float = 2.0):
    """Per-sample EMD (r = 2 as in the paper); Keras averages it over the batch."""
    cdf_true = ops.cumsum(y_true, axis=-1)
    cdf_pred = ops.cumsum(y_pred, axis=-1)
    return ops.power(ops.mean(ops.power(ops.abs(cdf_true - cdf_pred), r), axis=-1), 1.0 / r)
