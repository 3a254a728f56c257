"""Tests for busflow.augment.affine: each paper transform alone, seeding, fill modes, config.

Small images (32-64 px) keep the whole file well under a second or two.
"""

import math

import numpy as np
import pytest
import scipy.ndimage as ndi

import busflow.augment.affine as augment_module
from busflow.augment.affine import (
    AugmentParams,
    apply_affine,
    augment_copies,
    augment_image,
    random_affine,
)
from busflow.config.sections import schema_node

# Every transform switched off; tests switch on the one they check.
NONE = dict(
    rotations=(0,), width_shift=0.0, height_shift=0.0, shear=0.0, zoom=0.0, horizontal_flip=False
)


def transforms(**changes) -> AugmentParams:
    """The schema's default transforms with ``changes``."""
    return AugmentParams.from_config(changes)


def only(**changes) -> AugmentParams:
    return transforms(**{**NONE, **changes})


def make_image(size: int = 48, seed: int = 0) -> np.ndarray:
    """Asymmetric test image (no rotation/flip symmetry) with values 20-235."""
    rng = np.random.default_rng(seed)
    img = rng.integers(20, 236, (size, size), dtype=np.uint8)
    img[: size // 4, : size // 2] = 235  # a block in the top-left makes orientation visible
    return img


def smooth_image(size: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return (128 + 60 * np.sin(xx / 5.0) + 50 * np.cos(yy / 7.0 + xx / 11.0)).astype(np.uint8)


def seed_where(predicate, params, size, tries=64):
    """First seed whose random_affine satisfies predicate (tests would be vacuous without one)."""
    for seed in range(tries):
        if predicate(random_affine(np.random.default_rng(seed), size, params)):
            return seed
    raise AssertionError("no seed found; the draw is not random as documented")


# --- identity, rotation, flip --------------------------------------------------------


@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect"])
def test_identity_params_return_the_image_unchanged(fill_mode):
    img = make_image()
    params = only(fill_mode=fill_mode)
    for seed in range(3):
        out = augment_image(img, np.random.default_rng(seed), params)
        np.testing.assert_array_equal(out, img)
    np.testing.assert_array_equal(
        random_affine(np.random.default_rng(0), img.shape, params), np.eye(3)
    )


@pytest.mark.parametrize("angle,k", [(90, 1), (180, 2), (270, 3), (-90, 3), (450, 1)])
def test_rotation_only_is_exact_np_rot90_counter_clockwise(angle, k):
    # Documented convention: +90 degrees turns the picture counter-clockwise as displayed,
    # which is np.rot90(image, 1) (and Keras' theta=+90). Exact: no interpolation blur.
    img = make_image()
    out = augment_image(img, np.random.default_rng(1), only(rotations=(angle,)))
    np.testing.assert_array_equal(out, np.rot90(img, k))


def test_rotations_are_drawn_uniformly_from_the_list():
    img = make_image(16)
    params = only(rotations=(0, 90, 180, 270))
    counts = {k: 0 for k in range(4)}
    for seed in range(400):
        out = augment_image(img, np.random.default_rng(seed), params)
        k = next(k for k in range(4) if np.array_equal(out, np.rot90(img, k)))
        counts[k] += 1
    assert all(70 <= c <= 130 for c in counts.values()), counts


def test_horizontal_flip_mirrors_left_right_about_half_the_time():
    img = make_image()
    params = only(horizontal_flip=True)
    flipped = seed_where(lambda m: m[0, 0] == -1, params, img.shape)
    kept = seed_where(lambda m: m[0, 0] == 1, params, img.shape)
    np.testing.assert_array_equal(
        augment_image(img, np.random.default_rng(flipped), params), img[:, ::-1]
    )
    np.testing.assert_array_equal(augment_image(img, np.random.default_rng(kept), params), img)
    n_flips = sum(
        random_affine(np.random.default_rng(s), img.shape, params)[0, 0] < 0 for s in range(400)
    )
    assert 160 <= n_flips <= 240


# --- the affine matrix ----------------------------------------------------------------


def test_random_affine_is_composed_about_the_image_centre():
    # Without shifts, rotation/shear/zoom/flip must keep the centre pixel fixed.
    params = transforms(width_shift=0.0, height_shift=0.0, shear=20.0, zoom=0.3)
    h, w = 40, 40
    centre = np.array([(w - 1) / 2, (h - 1) / 2, 1.0])
    for seed in range(20):
        m = random_affine(np.random.default_rng(seed), (h, w), params)
        assert m.shape == (3, 3)
        np.testing.assert_allclose(m @ centre, centre, atol=1e-9)
        np.testing.assert_array_equal(m[2], [0, 0, 1])


def test_shear_is_in_degrees_like_keras():
    # Keras' legacy apply_affine_transform: shear ~ U(-r, r) DEGREES, matrix [[1, -sin], [0, cos]].
    small = only(shear=0.2)
    for seed in range(20):
        m = random_affine(np.random.default_rng(seed), (32, 32), small)
        assert abs(m[0, 1]) <= math.sin(math.radians(0.2)) + 1e-12  # radians would allow 0.199
        assert m[1, 0] == 0 and m[0, 0] == 1
        np.testing.assert_allclose(m[1, 1], math.cos(math.asin(-m[0, 1])))
    big = [
        random_affine(np.random.default_rng(s), (32, 32), only(shear=45.0))[0, 1] for s in range(50)
    ]
    assert (
        max(abs(v) for v in big) > 0.5
        and max(abs(v) for v in big) <= math.sin(math.radians(45)) + 1e-12
    )


def test_shift_and_zoom_ranges_follow_keras_float_semantics():
    size = (50, 40)  # (H, W)
    shifts = np.array(
        [
            random_affine(np.random.default_rng(s), size, only(width_shift=0.2, height_shift=0.1))[
                :2, 2
            ]
            for s in range(300)
        ]
    )
    assert np.abs(shifts[:, 0]).max() <= 0.2 * 40 and np.abs(shifts[:, 0]).max() > 0.9 * 0.2 * 40
    assert np.abs(shifts[:, 1]).max() <= 0.1 * 50 and np.abs(shifts[:, 1]).max() > 0.9 * 0.1 * 50
    zooms = np.array(
        [
            np.diag(random_affine(np.random.default_rng(s), size, only(zoom=0.25)))[:2]
            for s in range(300)
        ]
    )
    assert zooms.min() >= 0.75 and zooms.max() <= 1.25
    assert zooms.min() < 0.8 and zooms.max() > 1.2
    assert not np.allclose(zooms[:, 0], zooms[:, 1])  # independent per axis, like Keras


@pytest.mark.parametrize("size,n_seeds", [(40, 10), (192, 2)])  # 192 px: near the training size
@pytest.mark.parametrize("fill_mode", ["nearest", "reflect"])
def test_resampling_matches_scipy_order1_as_keras_uses_it(fill_mode, size, n_seeds):
    # Keras' legacy generator calls scipy.ndimage.affine_transform(order=1, mode=fill_mode)
    # on (row, col) arrays; our matrix is on (x=col, y=row), hence the axis swap.
    img = smooth_image(size)
    swap = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1.0]])
    params = transforms(shear=10.0, fill_mode=fill_mode)
    for seed in range(n_seeds):
        m = random_affine(np.random.default_rng(seed), img.shape, params)
        ours = apply_affine(img, m, fill_mode)
        s = swap @ m @ swap
        ref = ndi.affine_transform(
            img.astype(np.float64), s[:2, :2], s[:2, 2], order=1, mode=fill_mode
        )
        assert np.abs(ours.astype(float) - ref).max() <= 0.5 + 1e-6


@pytest.mark.parametrize("size", [64, 192])  # 192 px: near the training size
def test_values_are_rounded_not_truncated(size):
    # PIL's 8-bit bilinear truncates; a half-pixel shift would then darken by ~0.5 levels.
    img = make_image(size, seed=3)
    f = img.astype(float)
    half = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1.0]])
    out = apply_affine(img, half, "nearest").astype(float)
    exact = (f[:-1, :-1] + f[1:, :-1] + f[:-1, 1:] + f[1:, 1:]) / 4  # in quarter levels
    np.testing.assert_array_equal(out[:-1, :-1], np.floor(exact + 0.5))
    # quarter levels, ties up: mean error +0.125; truncation would give -0.375
    assert 0 < (out[:-1, :-1] - exact).mean() < 0.2


def test_sample_coordinates_are_exact_in_double_precision():
    # Why batch == single by construction: with coefficients on the grid, Pillow's
    # a * (x + 0.5) + b * (y + 0.5) + c (its affine_transform, in double) has no rounding
    # error, so a wider margin (c larger by whole pixels) cannot change any rounding.
    h, w = 224, 224
    x2, y2 = 2 * np.arange(w) + 1, (2 * np.arange(h) + 1)[:, None]  # 2 * (pixel + 0.5)
    params = transforms(rotations=(0, 90), width_shift=0.4, height_shift=0.3, shear=30.0, zoom=0.5)
    for seed in range(20):
        coeffs = augment_module._draw_affine(np.random.default_rng(seed), h, w, params)
        for left, top in ((0, 0), (37, 11)):
            a, b, c, d, e, f = augment_module._pil_coeffs(
                augment_module._on_grid(coeffs), left, top
            )
            for p, q, r in ((a, b, c), (d, e, f)):
                units = [v * 2.0**34 for v in (p, q, r)]  # integers if on the grid
                assert all(u.is_integer() for u in units)
                P, Q, R = (int(u) for u in units)
                exact = (P * x2 + Q * y2) // 2 + R  # in units of 2**-34; P, Q are even
                computed = p * (x2 / 2) + q * (y2 / 2) + r
                np.testing.assert_array_equal(computed * 2.0**34, exact.astype(np.float64))


@pytest.mark.parametrize("fill_mode", ["nearest", "reflect"])
def test_extra_padding_does_not_change_a_single_bit(monkeypatch, fill_mode):
    # Batches share a source padded for their largest transform; results must not depend
    # on the margin (coefficients on augment_module._GRID make sample coordinates exact).
    img = make_image(48)
    params = transforms(shear=20.0, fill_mode=fill_mode)
    plain = augment_copies(img, 8, (2,), params)
    margins = augment_module._max_margins
    monkeypatch.setattr(
        augment_module, "_max_margins", lambda *a: tuple(m + 7 for m in margins(*a))
    )
    np.testing.assert_array_equal(augment_copies(img, 8, (2,), params), plain)


# --- fill modes -----------------------------------------------------------------------


def _shift_corner(m, h, w):
    """(row, col) of the output corner that samples furthest outside the input, and how far."""
    tx, ty = m[0, 2], m[1, 2]
    return (h - 1 if ty > 0 else 0, w - 1 if tx > 0 else 0), max(abs(tx), abs(ty))


def test_constant_fill_puts_fill_value_in_the_corners_after_a_big_shift():
    img = np.full((32, 32), 200, dtype=np.uint8)
    # deterministic: shift by half the image down-right -> bottom-right quadrant is fill
    m = np.array([[1, 0, 16.0], [0, 1, 16.0], [0, 0, 1]])
    out = apply_affine(img, m, "constant", fill_value=7)
    assert (out[-15:, -15:] == 7).all() and (out[:15, :15] == 200).all()
    params = only(width_shift=0.5, height_shift=0.5, fill_mode="constant", fill_value=7)
    checked = 0
    for seed in range(10):
        (r, c), amount = _shift_corner(
            random_affine(np.random.default_rng(seed), img.shape, params), 32, 32
        )
        if amount > 2:
            assert augment_image(img, np.random.default_rng(seed), params)[r, c] == 7
            checked += 1
    assert checked >= 5


@pytest.mark.parametrize("fill_mode", ["nearest", "reflect"])
def test_nearest_and_reflect_leave_no_fill_coloured_border(fill_mode):
    flat = np.full((32, 32), 200, dtype=np.uint8)
    img = make_image(32)  # values 20..235
    params = transforms(
        width_shift=0.5, height_shift=0.5, zoom=0.5, shear=30.0, fill_mode=fill_mode, fill_value=0
    )
    for seed in range(10):
        np.testing.assert_array_equal(
            augment_image(flat, np.random.default_rng(seed), params), flat
        )
        out = augment_image(img, np.random.default_rng(seed), params)
        assert out.min() >= 20 and out.max() <= 235


# --- copies and seeding ---------------------------------------------------------------


def test_output_dtype_and_shape():
    img = make_image(40)
    out = augment_image(img, np.random.default_rng(0), transforms())
    assert out.dtype == np.uint8 and out.shape == (40, 40) and out.flags.writeable
    copies = augment_copies(img, 24, (0, 5), transforms())
    assert copies.dtype == np.uint8 and copies.shape == (24, 40, 40)


def test_same_seed_key_same_copies_different_key_different():
    img = make_image(40)
    params = transforms()
    a = augment_copies(img, 6, (1, 2), params)
    b = augment_copies(img, 6, [1, 2], params)
    c = augment_copies(img, 6, (1, 3), params)
    np.testing.assert_array_equal(a, b)
    assert all(not np.array_equal(a[k], c[k]) for k in range(1, 6))
    assert len({a[k].tobytes() for k in range(6)}) == 6  # copies differ from each other


def test_copy_zero_is_the_original_only_when_keep_original():
    img = make_image(40)
    params = transforms()
    np.testing.assert_array_equal(augment_copies(img, 4, (9,), params)[0], img)
    assert not np.array_equal(augment_copies(img, 4, (9,), params, keep_original=False)[0], img)


@pytest.mark.parametrize("keep_original", [True, False])
@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect"])
@pytest.mark.parametrize("size", [40, 192])
def test_any_copy_regenerated_alone_equals_the_batch_copy(keep_original, fill_mode, size):
    img = make_image(size)
    params = transforms(fill_mode=fill_mode, fill_value=3)
    batch = augment_copies(img, 8, (4, 11), params, keep_original=keep_original)
    for k in range(1 if keep_original else 0, 8):
        alone = augment_image(img, np.random.default_rng([4, 11, k]), params)
        np.testing.assert_array_equal(batch[k], alone)
    # a longer batch does not change the earlier copies (no order dependence)
    np.testing.assert_array_equal(
        augment_copies(img, 12, (4, 11), params, keep_original=keep_original)[:8], batch
    )


STRONG = dict(width_shift=0.4, height_shift=0.3, shear=30.0, zoom=0.5)


@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect"])
@pytest.mark.parametrize("shape", [(45, 70), (224, 224)])
def test_batch_equals_augment_image_per_copy_bit_exactly(fill_mode, shape):
    # Shards must be identical whichever path makes them: the batch (shared padded source,
    # copies seeded together) against each copy made alone with its own default_rng.
    img = np.random.default_rng(7).integers(0, 256, shape, dtype=np.uint8)
    params = transforms(**STRONG, fill_mode=fill_mode, fill_value=77)
    key = (12345, 2**32 + 9)  # a key word above 32 bits, as stable_int may give
    batch = augment_copies(img, 24, key, params, keep_original=False)
    for k in range(24):
        alone = augment_image(img, np.random.default_rng([*key, k]), params)
        assert np.array_equal(batch[k], alone), f"copy {k} differs"
    assert len({c.tobytes() for c in batch}) == 24


@pytest.mark.parametrize(
    "key", [(), (0,), (7, 3), (2**32 + 5, 1), (2**64 - 1, 2**40, 3), (1, 2, 3, 4, 5, 6)]
)
def test_batched_seeding_equals_numpy_default_rng_bit_for_bit(key):
    # augment_copies seeds its copies with a vectorised copy of NumPy's SeedSequence;
    # keys of 0-6 words take every branch of its mixing (pool of 4 words, and beyond).
    ks = [*range(30), 2**31, 2**32 - 1]
    expected = np.array([np.random.default_rng([*key, k]).random(7) for k in ks])
    np.testing.assert_array_equal(augment_module._seeded_uniforms(list(key), ks), expected)


@pytest.mark.parametrize("keep_original", [True, False])
def test_a_single_copy(keep_original):
    img = make_image(16)
    out = augment_copies(img, 1, (3,), transforms(), keep_original=keep_original)
    expected = (
        img if keep_original else augment_image(img, np.random.default_rng([3, 0]), transforms())
    )
    assert out.shape == (1, 16, 16)
    np.testing.assert_array_equal(out[0], expected)


def test_augment_image_is_deterministic_given_rng_state():
    img = make_image(40)
    a = augment_image(img, np.random.default_rng(5), transforms())
    b = augment_image(img, np.random.default_rng(5), transforms())
    np.testing.assert_array_equal(a, b)
    m = random_affine(np.random.default_rng(5), img.shape, transforms())
    np.testing.assert_array_equal(apply_affine(img, m, "nearest"), a)


# --- validation -----------------------------------------------------------------------


def test_from_config_accepts_field_names_and_yaml_lists():
    p = AugmentParams.from_config({"rotations": [0, 90], "shear": 0.2, "fill_mode": "reflect"})
    assert p.rotations == (0, 90) and p.fill_mode == "reflect" and p.zoom == 0.2
    defaults = schema_node("augment.transforms")["properties"]
    assert AugmentParams.from_config({}).as_dict() == {
        name: tuple(node["default"]) if name == "rotations" else node["default"]
        for name, node in defaults.items()
    }
    hash(p)  # frozen and hashable, usable as a cache key


def test_from_config_rejects_unknown_keys_naming_them():
    with pytest.raises(ValueError, match="shear_range"):
        AugmentParams.from_config({"shear": 0.2, "shear_range": 0.2})
    with pytest.raises(ValueError, match="mapping"):
        AugmentParams.from_config([("shear", 0.2)])


@pytest.mark.parametrize(
    "bad",
    [
        {"rotations": (45,)},
        {"rotations": ()},
        {"zoom": 1.0},
        {"width_shift": -0.1},
        {"height_shift": 10},
        {"shear": 90},
        {"fill_mode": "wrap"},
        {"fill_value": 256},
        {"horizontal_flip": "yes"},
    ],
)
def test_invalid_values_are_rejected(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        AugmentParams.from_config(bad)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((8, 8), np.float32),
        np.zeros((8, 8, 1), np.uint8),
        np.zeros((0, 8), np.uint8),
        [[1, 2]],
    ],
)
def test_bad_images_are_rejected(image):
    with pytest.raises(ValueError, match="uint8"):
        augment_image(image, np.random.default_rng(0), transforms())


@pytest.mark.parametrize("matrix", [np.eye(2), np.array([[1, 0, np.nan], [0, 1, 0], [0, 0, 1]])])
def test_apply_affine_rejects_bad_matrices(matrix):
    with pytest.raises(ValueError, match="3x3 and finite"):
        apply_affine(make_image(16), matrix)


def test_bad_seed_key_and_copy_count_are_rejected():
    img = make_image(16)
    with pytest.raises(ValueError, match="seed_key"):
        augment_copies(img, 3, (-1,), transforms())
    with pytest.raises(ValueError, match="n_copies"):
        augment_copies(img, 0, (1,), transforms())
