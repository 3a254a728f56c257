"""Score-CAM heat maps (busflow.evaluate.scorecam): shape, range, locality,
determinism, nested VGG16 models."""

import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from busflow.evaluate import scorecam
from busflow.jobs.scorecam import scorecam_examples_job
from busflow.models import builders as models

from workflow_helpers import python_on_backend

SIZE = 16
CELL = 4  # the constructed model's target layer sees 4x4-pixel cells
BRIGHT = (slice(4, 8), slice(8, 12))  # the discriminative patch (one cell)
GREY = (slice(8, 12), slice(0, 4))  # a distractor the model ignores (one cell)


def patch_image(bright=True, grey=True) -> np.ndarray:
    image = np.full((SIZE, SIZE), 30, dtype=np.uint8)
    if bright:
        image[BRIGHT] = 255
    if grey:
        image[GREY] = 120
    return image


def bright_patch_model(pool: int = CELL) -> keras.Model:
    """A model whose output depends only on pixels brighter than ~180, by construction.

    The target layer 'features' has three channels (on the pooled image in [0, 1]): ch0 fires on the
    bright patch only, ch1 on anything lighter than the background (bright and grey patches), ch2 on
    the dark background. Only ch0 reaches the output, so only the bright patch is evidence.
    """
    inputs = keras.Input((SIZE, SIZE, 1), dtype="uint8", name="pixels")
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    if pool > 1:
        x = keras.layers.AveragePooling2D(pool)(x)
    features = keras.layers.Conv2D(3, 1, activation="relu", name="features")
    x = features(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(1, activation="sigmoid")
    outputs = dense(x)
    model = keras.Model(inputs, outputs, name="bright_patch")
    features.set_weights(
        [
            np.array([1.0, 1.0, -1.0], dtype="float32").reshape(1, 1, 1, 3),
            np.array([-0.7, -0.3, 0.3], dtype="float32"),
        ]
    )
    dense.set_weights(
        [np.array([[400.0], [0.0], [0.0]], dtype="float32"), np.array([-3.0], dtype="float32")]
    )
    return model


@pytest.fixture(scope="module")
def patch_model():
    return bright_patch_model()


def test_heat_maps_have_the_image_shape_and_lie_in_zero_one(patch_model):
    images = np.stack([patch_image(), patch_image(grey=False), patch_image(bright=False)])
    result = scorecam.score_cam(patch_model, images)
    assert result.heatmaps.shape == (3, SIZE, SIZE)
    assert result.heatmaps.dtype == np.float32
    assert np.isfinite(result.heatmaps).all()
    assert result.heatmaps.min() >= 0.0 and result.heatmaps.max() <= 1.0
    assert result.probabilities.shape == (3,)
    assert result.layer_path == ("features",)


@pytest.mark.parametrize("pool", [1, CELL])
def test_heat_is_on_the_discriminative_patch_not_on_the_distractor(pool):
    model = bright_patch_model(pool)
    result = scorecam.score_cam(model, patch_image()[None])
    heat = result.heatmaps[0]
    assert result.probabilities[0] > 0.9  # the bright patch makes it positive
    assert heat.max() == pytest.approx(1.0)
    peak = np.unravel_index(np.argmax(heat), heat.shape)
    assert (
        BRIGHT[0].start <= peak[0] < BRIGHT[0].stop and BRIGHT[1].start <= peak[1] < BRIGHT[1].stop
    )
    assert heat[BRIGHT].mean() > 0.5
    assert heat[GREY].mean() < 0.35 * heat[BRIGHT].mean()
    outside = np.ones_like(heat, dtype=bool)
    outside[BRIGHT] = outside[GREY] = False
    assert heat[outside].mean() < 0.25


def test_same_heat_maps_twice(patch_model):
    images = np.stack([patch_image(), patch_image(grey=False)])
    first = scorecam.score_cam(patch_model, images)
    second = scorecam.score_cam(patch_model, images)
    np.testing.assert_array_equal(first.heatmaps, second.heatmaps)
    np.testing.assert_array_equal(first.probabilities, second.probabilities)


def test_no_evidence_gives_an_all_zero_map(patch_model):
    """Without the bright patch no channel raises the predicted
    (negative) class over the flat image."""
    result = scorecam.score_cam(patch_model, patch_image(bright=False)[None])
    assert result.probabilities[0] < 0.5
    assert result.heatmaps.shape == (1, SIZE, SIZE)
    assert (result.heatmaps == 0).all()


def test_target_is_the_last_conv_layer_of_the_baseline():
    model = models.build_baseline(32)
    path = scorecam.last_conv_layer_path(model)
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert path == (convs[-1],)


@pytest.fixture(scope="module")
def vgg_classifier(tmp_path_factory):
    """The transfer model's structure (pixels -> VGGInput -> nested 'vgg16'
    -> 'head'), saved and reloaded."""
    base = models.build_vgg16_base(32)
    head = models.build_head(base.outputs[0].shape[1:])
    head.name = models.HEAD_NAME
    path = tmp_path_factory.mktemp("cam") / "transfer.keras"
    models.assemble_classifier(base, head, 32, "transfer").save(path)
    return keras.models.load_model(path)


def test_nested_vgg16_target_is_block5_conv3_inside_the_base(vgg_classifier):
    path = scorecam.last_conv_layer_path(vgg_classifier)
    assert path == (models.BASE_NAME, "block5_conv3")
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 1), dtype=np.uint8)
    activations = scorecam.activation_model(vgg_classifier, path).predict(images, verbose=0)
    base = vgg_classifier.get_layer(models.BASE_NAME)
    direct = keras.Model(base.inputs, base.get_layer("block5_conv3").output)
    expected = direct.predict(keras.ops.convert_to_numpy(models.VGGInput()(images)), verbose=0)
    assert activations.shape == (2, 2, 2, 512)
    np.testing.assert_allclose(activations, expected, rtol=1e-5, atol=1e-5)


def test_score_cam_runs_on_the_nested_vgg16_model(vgg_classifier):
    images = np.random.default_rng(1).integers(0, 256, (2, 32, 32), dtype=np.uint8)
    result = scorecam.score_cam(vgg_classifier, images, top_k=4)
    assert result.heatmaps.shape == (2, 32, 32)
    assert result.heatmaps.min() >= 0.0 and result.heatmaps.max() <= 1.0
    np.testing.assert_allclose(
        result.probabilities,
        vgg_classifier.predict(images[..., None], verbose=0).ravel(),
        rtol=1e-5,
    )


def test_examples_are_originals_of_both_classes_spread_over_the_ids():
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 0])
    ids = np.array(["b3", "b1", "b2", "b4", "b5", "m1", "m2", "m1", "b1"])
    copies = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1])
    picked = scorecam.pick_examples(labels, ids, copies, per_class=3)
    assert [ids[i] for i in picked] == ["b1", "b3", "b5", "m1", "m2"]
    assert (copies[picked] == 0).all()


def test_the_rule_job_writes_a_png_grid(tmp_path, patch_model):
    from busflow.augment.shards import write_shard

    model_file = tmp_path / "bright.keras"
    patch_model.save(model_file)
    images = np.stack(
        [
            patch_image(bright=False),
            patch_image(grey=False),
            patch_image(),
            patch_image(bright=False),
        ]
    )
    arrays = {
        "images": images,
        "labels": np.array([0, 1, 1, 0], dtype=np.int8),
        "image_ids": np.array(["benign/a", "malignant/b", "malignant/c", "benign/d"]),
        "copy_index": np.zeros(4, dtype=np.int16),
    }
    shard = tmp_path / "0.npz"
    write_shard(shard, arrays, {"protocol": "leak_free", "leaky": False})
    out = tmp_path / "figures" / "cam_bright.png"
    scorecam_examples_job(model_file, [shard], "bright", ["benign", "malignant"], 2, 3, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    width, height = Image.open(out).size
    assert width > 300 and height > 300


def test_no_tensorflow_calls_in_the_module():
    source = Path(scorecam.__file__).read_text()
    assert not re.search(r"^\s*(import|from)\s+(tensorflow|jax|torch)\b", source, re.MULTILINE)
    assert not re.search(r"\b(tf|jax|torch)\.\w+\(", source)


OTHER_BACKEND_SCORE_CAM = """
import json, sys
import numpy as np
sys.path[:0] = [{repo!r}, {tests!r}]
from test_scorecam import bright_patch_model, patch_image
from busflow.evaluate import scorecam
from busflow.models import builders as models
patch = scorecam.score_cam(bright_patch_model(), patch_image()[None])
base = models.build_vgg16_base(32)
head = models.build_head(base.outputs[0].shape[1:])
head.name = models.HEAD_NAME
vgg = models.assemble_classifier(base, head, 32, "transfer")
images = np.random.default_rng(1).integers(0, 256, (2, 32, 32), dtype=np.uint8)
nested = scorecam.score_cam(vgg, images, top_k=4)
print(json.dumps({{
    "patch": patch.heatmaps[0].tolist(),
    "nested_path": list(scorecam.last_conv_layer_path(vgg)),
    "nested_shape": list(nested.heatmaps.shape),
    "nested_range": [float(nested.heatmaps.min()), float(nested.heatmaps.max())],
    "nested_probability_gap": float(np.abs(
        nested.probabilities - vgg.predict(images[..., None], verbose=0).ravel()).max()),
}}))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_score_cam_gives_the_same_maps_on_the_other_backends(backend):
    """The tiny end-to-end runs of JAX and torch stop at the table and export (CI time), so
    Score-CAM's backend-agnostic code is checked here on each: the constructed model's map equals
    TensorFlow's, and the nested VGG16 classifier runs through its base."""
    tests = Path(__file__).resolve().parent
    code = OTHER_BACKEND_SCORE_CAM.format(repo=str(tests.parent), tests=str(tests))
    found = json.loads(python_on_backend(code, backend))
    reference = scorecam.score_cam(bright_patch_model(), patch_image()[None]).heatmaps[0]
    np.testing.assert_allclose(np.array(found["patch"]), reference, atol=1e-5)
    assert found["nested_path"] == [models.BASE_NAME, "block5_conv3"]
    assert found["nested_shape"] == [2, 32, 32]
    assert 0.0 <= found["nested_range"][0] <= found["nested_range"][1] <= 1.0
    assert found["nested_probability_gap"] <= 1e-5
