import keras
import numpy as np
import pytest

from nima_utils.model.card import ModelCard, card_path, read_card
from nima_utils.model.network import build_from_card, build_nima
from nima_utils.model.weights import WeightsError, fingerprint, load_nima, save_nima


def test_paper_architecture():
    model = build_nima(weights=None)
    assert model.input_shape == (None, 224, 224, 3)
    assert model.output_shape == (None, 10)
    dropout = model.get_layer("dropout")
    assert dropout.rate == pytest.approx(0.75)
    head = model.get_layer("scores")
    assert head.units == 10 and head.activation is keras.activations.softmax
    assert isinstance(model.layers[-3], keras.layers.GlobalAveragePooling2D)
    out = model.predict_on_batch(np.random.default_rng(0).uniform(-1, 1, (2, 224, 224, 3)))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_symmetric_padding_variant_differs_only_in_padding():
    same, sym = build_nima(weights=None, padding="same"), build_nima(weights=None, padding="symmetric")
    assert [w.shape for w in same.get_weights()] == [w.shape for w in sym.get_weights()]
    pads = {layer.name: layer.padding for layer in sym.layers if isinstance(layer, keras.layers.ZeroPadding2D)}
    assert pads["conv1_pad"] == pads["conv_pad_2"] == ((1, 1), (1, 1))
    assert len(pads) == 5  # conv1 and the four stride-2 depthwise blocks
    sym.set_weights(same.get_weights())
    x = np.random.default_rng(1).uniform(-1, 1, (1, 224, 224, 3))

    def features(m):
        return keras.Model(m.input, m.get_layer("conv1_relu").output).predict_on_batch(x)

    a, b = features(same), features(sym)
    assert a.shape == b.shape == (1, 112, 112, 32)
    assert not np.allclose(a, b, atol=1e-3)  # the stride-2 sampling grid moved by one pixel


def test_unknown_backbone_is_refused():
    with pytest.raises(ValueError, match="unknown backbone"):
        build_nima("vgg99", weights=None)


def test_imagenet_backbone_is_real(imagenet_cache):
    from skimage import data

    classifier = keras.applications.MobileNet(weights="imagenet")
    cat = np.array(keras.ops.image.resize(data.chelsea()[None].astype("float32"), (224, 224)))
    probs = classifier.predict_on_batch(keras.applications.mobilenet.preprocess_input(cat))
    assert int(np.argmax(probs)) in (281, 282, 285)  # tabby, tiger cat, Egyptian cat
    nima = build_nima(weights="imagenet")
    backbone = keras.applications.MobileNet(input_shape=(224, 224, 3), include_top=False, weights="imagenet")
    for a, b in zip(nima.get_weights(), backbone.get_weights(), strict=False):
        np.testing.assert_array_equal(a, b)


def test_save_and_load_round_trip_with_card(tmp_path):
    card = ModelCard(alpha=0.25, input_size=96, resize="bilinear", training_data="test", metrics={"srcc_mean": 0.5})
    model = build_from_card(card)
    path = save_nima(model, tmp_path / "m.weights.h5", card)
    assert card_path(path).name == "m.card.json"
    assert read_card(path).resize == "bilinear"
    loaded, loaded_card = load_nima(path)
    assert loaded_card.input_size == 96 and loaded_card.metrics == {"srcc_mean": 0.5}
    assert loaded_card.fingerprint == fingerprint(model)
    x = np.random.default_rng(2).uniform(-1, 1, (2, 96, 96, 3))
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), rtol=1e-5)


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_nima(tmp_path / "missing.hdf5")
    (tmp_path / "junk.hdf5").write_bytes(b"not hdf5 at all")
    with pytest.raises(WeightsError, match="not a readable HDF5"):
        load_nima(tmp_path / "junk.hdf5")
    card = ModelCard(alpha=0.25, input_size=64)
    path = save_nima(build_from_card(card), tmp_path / "small.weights.h5", card)
    card_path(path).unlink()
    with pytest.raises(WeightsError, match="without its model card"):
        load_nima(path)


def test_bad_card_values_are_refused():
    with pytest.raises(ValueError, match="resize"):
        ModelCard(resize="area51")


BAD_CARD_FIELDS = [
    ("input_size", "224"), ("input_size", 16), ("input_size", 224.5), ("input_size", True), ("input_size", None),
    ("resize_size", 100), ("resize_size", "256"), ("alpha", 0), ("alpha", -1), ("alpha", "1.0"), ("alpha", 3.0),
    ("alpha", float("nan")), ("dropout", 1.0), ("dropout", -0.1), ("dropout", "0.5"), ("resize", "area51"),
    ("resize", None), ("preprocessing", "caffe"), ("padding", "valid"), ("backbone", "resnet50"), ("backbone", 1),
    ("metrics", [1, 2]), ("training", "fast"), ("notes", {"a": 1}), ("card_version", 99),
]


@pytest.mark.parametrize(("field", "value"), BAD_CARD_FIELDS)
def test_card_fields_are_validated_with_one_line_naming_file_and_field(tmp_path, field, value):
    import json

    weights = tmp_path / "m.weights.h5"
    card = ModelCard().to_dict()
    card[field] = value
    card_path(weights).write_text(json.dumps(card))
    with pytest.raises(ValueError) as info:
        read_card(weights)
    message = str(info.value)
    assert "\n" not in message
    assert str(card_path(weights)) in message and field in message, message


def test_card_that_is_not_an_object_or_not_text(tmp_path):
    weights = tmp_path / "m.weights.h5"
    for content in (b"[1, 2, 3]", b"\xff\xfe\x00garbage", b"{\"alpha\": 1"):
        card_path(weights).write_bytes(content)
        with pytest.raises(ValueError, match=r"m\.card\.json") as info:
            read_card(weights)
        assert "\n" not in str(info.value)


def test_cards_of_every_planned_backbone_and_training_provenance_are_accepted(tmp_path):
    for backbone, preprocessing in (("mobilenet", "mobilenet"), ("mobilenet_v2", "mobilenet_v2"),
                                    ("vgg16", "vgg16"), ("inception_v3", "inception_v3")):
        card = ModelCard(backbone=backbone, preprocessing=preprocessing, input_size=224, resize_size=256,
                         resize="bilinear", alpha=1, dropout=0.0, metrics={"srcc_mean": 0.6},
                         training={"epochs": 3, "schedule": {"lr": 3e-4}, "device": "cpu"})
        path = tmp_path / f"{backbone}.weights.h5"
        from nima_utils.model.card import write_card

        write_card(path, card)
        assert read_card(path) == card


def test_a_tflite_file_for_the_keras_engine_says_use_the_tflite_engine(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"TFL3")
    with pytest.raises(WeightsError, match="--engine tflite"):
        load_nima(model)


def test_card_sizes_are_bounded_and_the_limit_can_be_raised(tmp_path, monkeypatch):
    import json

    weights = tmp_path / "big.weights.h5"
    card_path(weights).write_text(json.dumps({**ModelCard().to_dict(), "input_size": 2048}))
    with pytest.raises(ValueError, match=r"input_size is 2048, above the limit of 1024.*NIMA_MAX_INPUT_SIZE=2048"):
        read_card(weights)
    monkeypatch.setenv("NIMA_MAX_INPUT_SIZE", "2048")
    assert read_card(weights).input_size == 2048
    monkeypatch.setenv("NIMA_MAX_INPUT_SIZE", "lots")
    with pytest.raises(ValueError, match="NIMA_MAX_INPUT_SIZE must be a whole number"):
        read_card(weights)
