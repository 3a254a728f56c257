"""data.preprocess: cropping to the ultrasound field, overlay
suppression, intensity normalisation."""

import numpy as np
import pytest
from PIL import Image

from busflow.data.preprocess import (
    Preprocess,
    field_box,
    normalise_intensity,
    overlay_mask,
    suppress_overlays,
)
from busflow.data.regions import RoiRule, model_input


def tissue(shape, seed=0, level=100):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(level, 20, shape), 20, 180).astype(np.uint8)


def framed_scan():
    """A 200 x 300 frame: tissue in rows 40-179, columns 60-259; a text band on black above it."""
    frame = np.zeros((200, 300), np.uint8)
    frame[40:180, 60:260] = tissue((140, 200))
    frame[10:18, 20:80:4] = 255  # text: a few bright strokes on black
    return frame


def test_field_box_finds_the_tissue_and_drops_borders_and_text():
    assert field_box(framed_scan()) == (40, 180, 60, 260)


def test_field_box_keeps_the_whole_image_when_nothing_looks_like_a_field():
    dark = np.zeros((100, 100), np.uint8)
    dark[45:55, 45:55] = 200  # a small bright blob: not a field
    assert field_box(dark) == (0, 100, 0, 100)


def test_overlay_suppression_removes_a_thin_caliper_and_keeps_wide_bright_tissue():
    scan = tissue((120, 120), seed=1)
    scan[20:50, 20:50] = 230  # a wide bright reflector: tissue
    scan[80, 70:90] = 255  # a caliper cross, one pixel thick
    scan[70:90, 80] = 255
    mask = overlay_mask(scan)
    assert mask[80, 75] and mask[75, 80]
    assert not mask[30:40, 30:40].any()
    cleaned = suppress_overlays(scan)
    assert cleaned[80, 75] < 200 and cleaned[75, 80] < 200
    assert (cleaned[30:40, 30:40] == 230).all()


def test_percentile_normalisation_undoes_a_gain_change():
    scan = tissue((100, 100), seed=2)
    darker = (scan * 0.6).astype(np.uint8)
    a, b = normalise_intensity(scan, "percentile"), normalise_intensity(darker, "percentile")
    assert abs(float(a.mean()) - float(b.mean())) < 3
    assert abs(float(scan.mean()) - float(darker.mean())) > 30


def test_equalize_spreads_the_histogram():
    narrow = np.random.default_rng(3).integers(100, 120, (64, 64)).astype(np.uint8)
    assert np.ptp(normalise_intensity(narrow, "equalize")) > 200


def test_the_default_changes_nothing():
    scan = framed_scan()
    assert Preprocess.from_config({}).is_identity
    assert np.array_equal(Preprocess.from_config(None).apply(scan), scan)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="crop_to_feild"):
        Preprocess.from_config({"crop_to_feild": True})
    with pytest.raises(ValueError, match="normalise_intensity"):
        Preprocess.from_config({"normalise_intensity": "clahe"})


def test_the_model_sees_the_cropped_field(tmp_path):
    path = tmp_path / "scan.png"
    Image.fromarray(framed_scan()).save(path)
    plain = model_input(path, 32, None, None, RoiRule())
    field = Preprocess.from_config({"crop_to_field": True})
    cropped = model_input(path, 32, field, None, RoiRule())
    assert (plain[0] == 0).all() and (cropped[0] > 0).mean() > 0.8
