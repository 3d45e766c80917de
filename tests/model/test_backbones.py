"""The backbone table: one row per backbone, read without TensorFlow, and the two pixel scalings
(NumPy for scoring, tf.data for the cache) equal to Keras' own `preprocess_input`."""

import subprocess
import sys

import numpy as np
import pytest

from nima_utils.model.backbones import BACKBONES, PIXEL_SCALING
from nima_utils.pipeline.prerequisites import imagenet_file


def test_the_table_and_its_readers_need_no_tensorflow():
    code = ("import sys, nima_utils.model.backbones, nima_utils.model.card, nima_utils.images, nima_utils.train.config;"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_imagenet_files_are_the_names_keras_looks_for():
    assert imagenet_file("mobilenet", 0.25, 64) == "mobilenet/mobilenet_2_5_224_tf_no_top.h5"
    assert imagenet_file("mobilenet", 1.0, 160) == "mobilenet/mobilenet_1_0_160_tf_no_top.h5"
    assert BACKBONES["mobilenet_v2"].imagenet_file(0.5, 96).endswith("kernels_0.5_96_no_top.h5")
    assert BACKBONES["vgg16"].imagenet_file() == "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert all(b.preprocessing in PIXEL_SCALING for b in BACKBONES.values())


@pytest.mark.parametrize("name", sorted(PIXEL_SCALING))
def test_numpy_and_tf_data_scaling_match_keras_preprocess_input(name):
    import importlib

    import keras

    from nima_utils.data.cache import scale_pixels
    from nima_utils.images import preprocess

    pixels = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    keras_module = importlib.import_module(f"keras.applications.{name}")
    want = keras.ops.convert_to_numpy(keras_module.preprocess_input(pixels.astype(np.float32)))
    np.testing.assert_allclose(preprocess(pixels, name), want, atol=1e-4)
    np.testing.assert_allclose(scale_pixels(pixels, name).numpy(), want, atol=1e-4)
    with pytest.raises(ValueError, match="unknown preprocessing"):
        preprocess(pixels, "caffe")
