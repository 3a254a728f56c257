"""augment.scanner: another scanner's look on augmented training copies, never on originals."""

import numpy as np
import pytest

from busflow.augment.affine import AugmentParams
from busflow.augment.scanner import ScannerAugment
from busflow.augment.shards import image_samples

SCAN = np.clip(np.random.default_rng(0).normal(100, 25, (48, 48)), 0, 255).astype(np.uint8)
NO_MOVE = AugmentParams.from_config(
    {
        "rotations": [0],
        "width_shift": 0,
        "height_shift": 0,
        "shear": 0,
        "zoom": 0,
        "horizontal_flip": False,
    }
)
LOOKS = ScannerAugment.from_config(
    {"gain": 0.3, "contrast": 0.3, "gamma": 0.3, "blur": 1.0, "speckle": 0.2, "resolution": 0.5}
)


def test_identity_by_default():
    assert ScannerAugment.from_config(None).is_identity
    stack = image_samples(SCAN, [0, 1, 2], [7, 1], NO_MOVE, keep_original=True)
    assert all(np.array_equal(row, SCAN) for row in stack)


def test_augmented_copies_change_look_the_original_does_not():
    stack = image_samples(SCAN, [0, 1, 2, 3], [7, 1], NO_MOVE, keep_original=True, scanner=LOOKS)
    assert np.array_equal(stack[0], SCAN)
    means = [float(row.mean()) for row in stack[1:]]
    assert all(not np.array_equal(row, SCAN) for row in stack[1:])
    assert max(means) - min(means) > 1  # each copy draws its own look


def test_the_original_stays_when_keep_original_is_off():
    stack = image_samples(SCAN, [-1, 0, 1], [7, 1], NO_MOVE, keep_original=False, scanner=LOOKS)
    assert np.array_equal(stack[0], SCAN)
    assert not np.array_equal(stack[1], SCAN)


def test_a_copy_is_the_same_whatever_else_is_made_with_it():
    alone = image_samples(SCAN, [3], [7, 1], NO_MOVE, keep_original=True, scanner=LOOKS)
    together = image_samples(SCAN, [0, 1, 2, 3], [7, 1], NO_MOVE, keep_original=True, scanner=LOOKS)
    assert np.array_equal(alone[0], together[3])


def test_gain_stays_in_its_range():
    rng = np.random.default_rng(1)
    flat = np.full((16, 16), 100, np.uint8)
    means = [ScannerAugment.from_config({"gain": 0.2}).apply(flat, rng).mean() for _ in range(200)]
    assert 79 <= min(means) < 85 and 115 < max(means) <= 121


@pytest.mark.parametrize(
    "settings, match", [({"gain": 1.0}, "gain"), ({"blur": -1}, "blur"), ({"noise": 0.1}, "noise")]
)
def test_settings_are_checked(settings, match):
    with pytest.raises(ValueError, match=match):
        ScannerAugment.from_config(settings)
