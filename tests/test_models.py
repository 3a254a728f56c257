"""Models and VGG16 weights: loaded for real from a file of Keras'
layout; clear error when absent."""

import h5py
import keras
import numpy as np
import pytest

from busflow.errors import WeightsNotFoundError
from busflow.models import builders as models
from busflow.models.weights import VGG16_NOTOP_FILE, VGG16_NOTOP_MD5, resolve_weights_file

SIZE = 32


def test_vgg16_base_loads_the_weights_file_through_the_real_loader(vgg16_weights_file):
    base = models.build_vgg16_base(SIZE, vgg16_weights_file)
    with h5py.File(vgg16_weights_file, "r") as h5:
        expected = h5["block5_conv3"]["block5_conv3/kernel:0"][()]
        first = h5["block1_conv1"]["block1_conv1/kernel:0"][()]
    assert np.array_equal(base.get_layer("block5_conv3").kernel.numpy(), expected)
    assert np.array_equal(base.get_layer("block1_conv1").kernel.numpy(), first)
    assert not base.trainable_weights


def test_missing_weights_file_names_file_md5_and_place(tmp_path):
    missing = tmp_path / "nowhere" / VGG16_NOTOP_FILE
    with pytest.raises(WeightsNotFoundError) as error:
        models.build_vgg16_base(SIZE, missing)
    message = str(error.value)
    assert str(missing) in message and VGG16_NOTOP_MD5 in message and "resources/" in message


def test_imagenet_setting_prefers_the_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert str(resolve_weights_file("imagenet")) == f"resources/{VGG16_NOTOP_FILE}"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / VGG16_NOTOP_FILE).write_bytes(b"x")
    assert resolve_weights_file("imagenet") == tmp_path / "models" / VGG16_NOTOP_FILE
    assert resolve_weights_file("none") is None


def test_random_base_is_the_same_in_every_build():
    a = models.build_vgg16_base(SIZE, None)
    b = models.build_vgg16_base(SIZE, None)
    assert all(np.array_equal(x.numpy(), y.numpy()) for x, y in zip(a.weights, b.weights))


def test_vgg_input_repeats_grey_and_subtracts_the_imagenet_mean():
    pixels = np.full((1, 2, 2, 1), 200, np.uint8)
    out = keras.ops.convert_to_numpy(models.VGGInput()(pixels))
    assert out.shape == (1, 2, 2, 3)
    assert np.allclose(out[0, 0, 0], [200 - m for m in models.VGG16_MEAN_BGR], atol=1e-4)


def test_saved_classifier_takes_raw_pixels_and_reloads_identically(vgg16_weights_file, tmp_path):
    base = models.build_vgg16_base(SIZE, vgg16_weights_file)
    head = models.build_head(base.output.shape[1:])
    classifier = models.assemble_classifier(base, head, SIZE, "transfer")
    pixels = np.random.default_rng(0).integers(0, 256, (4, SIZE, SIZE, 1), dtype=np.uint8)
    classifier.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    assert np.allclose(
        classifier.predict(pixels, verbose=0), reloaded.predict(pixels, verbose=0), atol=1e-6
    )


def test_finetune_trains_only_block5_and_the_head(vgg16_weights_file):
    base = models.build_vgg16_base(SIZE, vgg16_weights_file)
    head = models.build_head(base.output.shape[1:])
    trainer = models.build_top_trainer(base, head)
    trainable = {w.path.split("/")[0] for w in trainer.trainable_weights}
    assert {"block5_conv1", "block5_conv2", "block5_conv3"} <= trainable
    assert not any(name.startswith(("block1", "block2", "block3", "block4")) for name in trainable)
    assert not any(w.path.startswith("block4") for w in base.trainable_weights)


def test_block5_trainer_on_block4_features_equals_the_full_model(vgg16_weights_file):
    base = models.build_vgg16_base(SIZE, vgg16_weights_file)
    head = models.build_head(base.output.shape[1:], dropout=0.0)
    classifier = models.assemble_classifier(base, head, SIZE, "full")
    extractor = models.build_feature_extractor(base, SIZE, ("block4", "bottleneck"))
    trainer = models.build_top_trainer(base, head)
    pixels = np.random.default_rng(1).integers(0, 256, (3, SIZE, SIZE, 1), dtype=np.uint8)
    block4 = extractor.predict(pixels, verbose=0)["block4"]
    assert np.allclose(
        trainer.predict(block4, verbose=0), classifier.predict(pixels, verbose=0), atol=1e-5
    )


def test_fetch_without_network_names_file_md5_and_place(tmp_path):
    from busflow.models.weights import fetch_vgg16_weights

    dest = tmp_path / "resources" / VGG16_NOTOP_FILE
    with pytest.raises(WeightsNotFoundError) as error:
        fetch_vgg16_weights(dest, url="http://127.0.0.1:9/vgg16.h5", timeout=5)
    assert (
        "download failed" in str(error.value)
        and str(dest) in str(error.value)
        and VGG16_NOTOP_MD5 in str(error.value)
    )
    assert not dest.exists() and not list(dest.parent.glob("*.part"))


def test_fetch_checks_the_md5_and_keeps_only_a_verified_file(vgg16_weights_file, tmp_path):
    from busflow.models.weights import fetch_vgg16_weights, md5_of

    dest = tmp_path / VGG16_NOTOP_FILE
    with pytest.raises(WeightsNotFoundError, match="wrong md5"):
        fetch_vgg16_weights(dest, url=vgg16_weights_file.as_uri())
    assert not dest.exists()
    fetch_vgg16_weights(dest, url=vgg16_weights_file.as_uri(), md5=md5_of(vgg16_weights_file))
    assert md5_of(dest) == md5_of(vgg16_weights_file)


@pytest.fixture
def mixed_bfloat16():
    """Build under the mixed_bfloat16 policy; float32 again afterwards,
    so other tests are unaffected."""
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def test_vgg_input_subtracts_the_mean_in_float32_before_rounding_to_bfloat16(mixed_bfloat16):
    layer = models.VGGInput()
    out = keras.ops.convert_to_numpy(
        keras.ops.cast(layer(np.full((1, 1, 1, 1), 124, np.uint8)), "float32")
    )
    assert layer.compute_dtype == "bfloat16"
    # 124 - 123.68 = 0.32; with the mean rounded to bfloat16 first (123.5) it would be 0.5.
    assert out[0, 0, 0, 2] == pytest.approx(0.32, abs=0.002)


def test_every_classifier_outputs_float32_under_mixed_bfloat16(mixed_bfloat16):
    base = models.build_vgg16_base(SIZE, None)
    head = models.build_head(base.output.shape[1:])
    built = [
        models.build_baseline(SIZE),
        head,
        models.assemble_classifier(base, head, SIZE, "transfer"),
        models.build_top_trainer(base, head),
    ]
    for model in built:
        assert model.outputs[0].dtype == "float32", model.name
    assert base.get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert (
        head.layers[-1].compute_dtype == "float32" and head.layers[-2].compute_dtype == "bfloat16"
    )


def test_feature_caching_under_mixed_bfloat16_gives_float32_and_takes_float16(mixed_bfloat16):
    base = models.build_vgg16_base(SIZE, None)
    head = models.build_head(base.output.shape[1:], dropout=0.0)
    pixels = np.random.default_rng(2).integers(0, 256, (3, SIZE, SIZE, 1), dtype=np.uint8)
    features = models.build_feature_extractor(base, SIZE, ("block4", "bottleneck")).predict(
        pixels, verbose=0
    )
    assert features["block4"].dtype == np.float32 and features["bottleneck"].dtype == np.float32
    trainer = models.build_top_trainer(base, head)
    from_cache = trainer.predict(
        features["block4"].astype(np.float16), verbose=0
    )  # as extract_vgg16_features_job stores it
    end_to_end = models.assemble_classifier(base, head, SIZE, "full").predict(pixels, verbose=0)
    assert from_cache.dtype == np.float32
    # bfloat16 -> float16 keeps every bit for values in float16's normal range: caching loses
    # nothing (bit-equal here; the tolerance only allows for the rare subnormal feature value).
    assert np.allclose(from_cache, end_to_end, atol=1e-4)


def test_classifier_saved_under_mixed_bfloat16_reloads_and_predicts_float32(
    mixed_bfloat16, tmp_path
):
    base = models.build_vgg16_base(SIZE, None)
    head = models.build_head(base.output.shape[1:])
    classifier = models.assemble_classifier(base, head, SIZE, "transfer")
    pixels = np.random.default_rng(3).integers(0, 256, (4, SIZE, SIZE, 1), dtype=np.uint8)
    expected = classifier.predict(pixels, verbose=0)
    classifier.save(tmp_path / "m.keras")
    keras.mixed_precision.set_dtype_policy(
        "float32"
    )  # e.g. an evaluation job that never set the policy
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    predicted = reloaded.predict(pixels, verbose=0)
    assert predicted.dtype == np.float32 and ((predicted >= 0) & (predicted <= 1)).all()
    assert np.array_equal(predicted, expected)
    assert (
        reloaded.get_layer(models.BASE_NAME).get_layer("block1_conv1").compute_dtype == "bfloat16"
    )


def test_head_pooling_and_weight_decay():
    flat = models.build_head((7, 7, 512))
    averaged = models.build_head((7, 7, 512), pooling="average", l2=1e-3)
    assert flat.count_params() == 7 * 7 * 512 * 256 + 256 + 257
    assert averaged.count_params() == 512 * 256 + 256 + 257
    dense = [layer for layer in averaged.layers if isinstance(layer, keras.layers.Dense)]
    assert all(layer.kernel_regularizer is not None for layer in dense)
    features = np.random.default_rng(0).random((4, 7, 7, 512), dtype=np.float32)
    assert averaged(features).shape == (4, 1)
    with pytest.raises(ValueError, match="unknown head pooling 'max'"):
        models.build_head((7, 7, 512), pooling="max")


def test_all_layers_reaches_into_nested_models():
    from busflow.models.builders import all_layers

    head = models.build_head((2, 2, 8), dropout=0.5)
    classifier = keras.Sequential([keras.Input((2, 2, 8)), head])
    names = [layer.name for layer in all_layers(classifier)]
    assert head.name in names
    assert any(isinstance(layer, keras.layers.Dropout) for layer in all_layers(classifier))
