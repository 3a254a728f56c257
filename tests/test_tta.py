"""Test-time augmentation: which views are predicted and how their probabilities are combined."""

import numpy as np
import pytest

from busflow.augment.affine import AugmentParams, augment_copies
from busflow.evaluate.tta import predict_each_with_tta, predict_with_tta, tta_settings, views
from busflow.hashing import stable_int

TRANSFORMS = {
    "rotations": [0],
    "width_shift": 0.2,
    "height_shift": 0.2,
    "shear": 5.0,
    "zoom": 0.2,
    "horizontal_flip": True,
}
AUGMENT = {"seed": 7, "transforms": TRANSFORMS}


@pytest.fixture
def samples():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 24, 24), dtype=np.uint8)
    return (
        images,
        np.asarray(["a", "b", "c"]),
        np.asarray([0, -1, 2]),
    )  # -1: the original when keep_original is off


def mean_brightness(images):
    """A stand-in model whose output depends on every pixel, so any change of view shows."""
    return images.reshape(len(images), -1).mean(axis=1) / 255


def test_each_sample_is_followed_by_its_augmented_views(samples):
    images, ids, copies = samples
    stack = views(images, ids, copies, tta_settings(3, AUGMENT))
    assert stack.shape == (12, 24, 24) and stack.dtype == np.uint8
    for i in range(3):
        group = stack[4 * i : 4 * i + 4]
        np.testing.assert_array_equal(group[0], images[i])
        assert all(not np.array_equal(view, images[i]) for view in group[1:])
        assert len({view.tobytes() for view in group}) == 4


def test_views_are_fixed_by_seed_image_and_copy_not_by_the_batch(samples):
    images, ids, copies = samples
    tta = tta_settings(2, AUGMENT)
    together = views(images, ids, copies, tta)
    alone = views(images[1:2], ids[1:2], copies[1:2], tta)
    np.testing.assert_array_equal(together[3:6], alone)
    other_seed = views(images[1:2], ids[1:2], copies[1:2], tta_settings(2, {**AUGMENT, "seed": 8}))
    assert not np.array_equal(other_seed[1:], alone[1:])


def test_views_are_not_the_training_copies_of_the_same_image(samples):
    images, ids, copies = samples
    params = AugmentParams.from_config(TRANSFORMS)
    tested = views(images, ids, copies, tta_settings(4, AUGMENT)).reshape(3, 5, 24, 24)
    for i, image_id in enumerate(ids):
        training = augment_copies(
            images[i], 5, [AUGMENT["seed"], stable_int("image", image_id)], params
        )
        assert not any(
            np.array_equal(view, copy) for view in tested[i, 1:] for copy in training[1:]
        )


def test_the_probability_is_the_mean_over_the_sample_and_its_views(samples):
    images, ids, copies = samples
    tta = tta_settings(4, AUGMENT)
    expected = mean_brightness(views(images, ids, copies, tta)).reshape(3, 5).mean(axis=1)
    got = predict_with_tta(mean_brightness, images, ids, copies, tta)
    np.testing.assert_allclose(got, expected)
    assert not np.allclose(got, mean_brightness(images))


def test_chunks_and_several_models_give_what_one_pass_gives(samples):
    images, ids, copies = samples
    tta = tta_settings(3, AUGMENT)
    whole = predict_with_tta(mean_brightness, images, ids, copies, tta, chunk=100)
    darkest = lambda x: x.reshape(len(x), -1).min(axis=1) / 255  # noqa: E731
    chunked = predict_each_with_tta([mean_brightness, darkest], images, ids, copies, tta, chunk=2)
    np.testing.assert_allclose(chunked[0], whole)
    np.testing.assert_allclose(chunked[1], predict_with_tta(darkest, images, ids, copies, tta))
    assert not np.allclose(chunked[0], chunked[1])


@pytest.mark.parametrize("tta", [None, {"copies": 0}, tta_settings(0, AUGMENT)])
def test_without_views_each_sample_is_predicted_once_as_it_is(samples, tta):
    images, ids, copies = samples
    calls = []

    def predict(x):
        calls.append(len(x))
        return mean_brightness(x)

    np.testing.assert_allclose(
        predict_with_tta(predict, images, ids, copies, tta), mean_brightness(images)
    )
    assert calls == [3]


def test_settings_without_views_do_not_depend_on_the_augmentation():
    assert (
        tta_settings(0, AUGMENT)
        == tta_settings(0, {"seed": 1, "transforms": {"zoom": 0.5}})
        == {"copies": 0}
    )
    # The transforms as the validated config holds them: the given ones, the schema's defaults.
    filled = {**TRANSFORMS, "fill_mode": "nearest", "fill_value": 0}
    assert tta_settings(2, AUGMENT) == {"copies": 2, "transforms": filled, "seed": 7}
