"""Precision and device placement, with the GPU queries stubbed: this machine has no GPU, so the
choices a GPU machine makes are checked by what `distribute` decides from what it is told."""

import keras
import pytest

from nima_utils.train import distribute


@pytest.fixture(autouse=True)
def float32_after():
    yield
    keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize(("gpus", "bf16", "expected"), [(0, False, "float32"), (1, False, "float32"),
                                                        (1, True, "mixed_bfloat16"), (4, True, "mixed_bfloat16")])
def test_auto_precision_is_bfloat16_only_on_gpus_that_run_it(monkeypatch, gpus, bf16, expected):
    monkeypatch.setattr(distribute, "gpu_count", lambda: gpus)
    monkeypatch.setattr(distribute, "_bf16_supported", lambda: bf16)
    assert distribute.set_precision("auto") == expected
    assert keras.mixed_precision.dtype_policy().name == expected


def test_forced_and_bad_precision(monkeypatch):
    monkeypatch.setattr(distribute, "gpu_count", lambda: 0)
    assert distribute.set_precision("mixed_bfloat16") == "mixed_bfloat16"
    assert distribute.set_precision("float32") == "float32"
    with pytest.raises(ValueError, match="precision must be"):
        distribute.set_precision("fp8")


def test_all_gpus_of_a_machine_are_used_with_mirrored_strategy(monkeypatch):
    monkeypatch.setattr(distribute, "gpu_count", lambda: 2)
    monkeypatch.setattr(distribute, "_bf16_supported", lambda: True)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with distribute.placement("auto") as place:
        import tensorflow as tf

        assert place.strategy == "MirroredStrategy (2 GPUs)" and place.precision == "mixed_bfloat16"
        assert tf.distribute.has_strategy() and isinstance(tf.distribute.get_strategy(), tf.distribute.MirroredStrategy)
        assert keras.mixed_precision.dtype_policy().name == "mixed_bfloat16"
    assert keras.mixed_precision.dtype_policy().name == "float32"  # reset after the run
    assert not tf.distribute.has_strategy()


def test_one_device_needs_no_strategy(monkeypatch):
    monkeypatch.setattr(distribute, "gpu_count", lambda: 0)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with distribute.placement("auto") as place:
        assert (place.strategy, place.replicas, place.precision, place.chief) == ("single device", 1, "float32", True)


@pytest.mark.parametrize(("raw", "words"), [("{not json", "not valid JSON"),
                                            ('{"cluster": {}}', "needs cluster.worker")])
def test_bad_tf_config_is_named(monkeypatch, raw, words):
    monkeypatch.setenv("TF_CONFIG", raw)
    with pytest.raises(ValueError, match=words), distribute.placement("float32"):
        pass
