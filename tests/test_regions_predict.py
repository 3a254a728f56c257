"""A model trained on lesion regions, exported and used on new images: the region comes with the
image (a mask beside it, a mask folder, a CSV's box) or the image is refused by name, unless the
user asks for the whole image."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_predict import SIZE, export_model

ROI = {"roi": "box", "roi_margin": 0.1, "roi_missing": "error"}


@pytest.fixture(scope="module")
def roi_export(tmp_path_factory, demo_raw):
    return export_model(tmp_path_factory.mktemp("roi_export"), demo_raw, roi=ROI)


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    """Three scans: one with its mask beside it, one without, one listed in a CSV with a box."""
    folder = tmp_path_factory.mktemp("clinic")
    rng = np.random.default_rng(3)
    for name in ("masked", "bare", "boxed"):
        Image.fromarray(rng.integers(0, 255, (48, 64), dtype=np.uint8)).save(folder / f"{name}.png")
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 20:44] = 255
    Image.fromarray(mask).save(folder / "masked_mask.png")
    (folder / "boxed.csv").write_text("path,bbox_x,bbox_y,bbox_w,bbox_h\nboxed.png,20,10,24,20\n")
    return folder


def expected_probability(export, path, box):
    import keras

    from busflow.data.regions import Region, RoiRule, model_input
    from busflow.evaluate.calibration import Recalibration

    record = json.loads((export / "model.json").read_text())
    pixels = model_input(path, SIZE, None, Region("mask", box), RoiRule.of(ROI))
    model = keras.saving.load_model(export / "model.keras")
    raw = model.predict(pixels[None, :, :, None], verbose=0).ravel()
    return float(Recalibration.from_record(record["recalibration"]).apply(raw)[0])


def test_the_export_records_the_region_rule_and_its_readme_says_so(roi_export):
    record = json.loads((roi_export / "model.json").read_text())
    assert record["input"]["roi"] == {"mode": "box", "margin": 0.1, "missing": "error"}
    assert "lesion region" in record["input"]["pixels"]
    assert "trained on lesion regions" in (roi_export / "README.md").read_text()


def test_a_mask_beside_the_image_is_its_region_and_not_an_image(roi_export, clinic):
    from busflow.predict.predictions import predict_table

    table = predict_table([roi_export], [clinic]).set_index("image_id")
    assert "masked_mask.png" not in table.index
    assert table.loc["masked.png", "status"] == "ok"
    np.testing.assert_allclose(
        table.loc["masked.png", "transfer_probability"],
        expected_probability(roi_export, clinic / "masked.png", (20, 10, 44, 30)),
        atol=1e-6,
    )


def test_an_image_without_a_region_is_refused_unless_the_whole_image_is_asked_for(
    roi_export, clinic
):
    from busflow.predict.predictions import predict_table

    refused = predict_table([roi_export], [clinic / "bare.png"]).iloc[0]
    assert refused["status"] == "failed" and "no lesion region" in refused["reason"]
    assert "--whole-image" in refused["reason"]
    whole = predict_table([roi_export], [clinic / "bare.png"], whole_image=True).iloc[0]
    assert whole["status"] == "ok" and "never saw" in whole["warning"]


def test_a_csv_box_and_a_mask_folder_give_the_same_region(roi_export, clinic, tmp_path):
    from busflow.predict.predictions import predict_table

    boxed = predict_table([roi_export], [clinic / "boxed.csv"]).iloc[0]
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.open(clinic / "masked_mask.png").save(masks / "boxed_lesion.png")
    folder = predict_table([roi_export], [clinic / "boxed.png"], masks=masks).iloc[0]
    assert boxed["status"] == folder["status"] == "ok"
    assert boxed["transfer_probability"] == pytest.approx(folder["transfer_probability"], abs=1e-7)


def test_the_command_line_takes_masks_and_whole_image(roi_export, clinic, tmp_path):
    from busflow.predict.cli import main

    out = tmp_path / "p.csv"
    assert main([str(roi_export), str(clinic / "bare.png"), "--whole-image", "-o", str(out)]) == 0
    assert pd.read_csv(out)["status"].tolist() == ["ok"]
