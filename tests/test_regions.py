"""Lesion regions (data.roi): where a region comes from, how it is cut, and the bad input that
gets a named error. Small images made here; no shared data."""

import numpy as np
import pytest
from PIL import Image

from busflow.data.manifest import build_manifest
from busflow.data.regions import (
    Region,
    RegionError,
    RoiRule,
    crop_box,
    crop_to_region,
    model_input,
)

CLASSES = ("benign", "malignant")


def speckle(seed: int, width: int = 60, height: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).integers(20, 235, (height, width), dtype=np.uint8)


def lesion_mask(box, width: int = 60, height: int = 40) -> np.ndarray:
    x0, y0, x1, y1 = box
    mask = np.zeros((height, width), np.uint8)
    mask[y0:y1, x0:x1] = 255
    return mask


def write_site(folder, n_per_class: int = 3, masks: bool = True, seed: int = 0):
    """BUSI's layout: class folders, <name>_mask.png beside each image; returns the boxes."""
    boxes = {}
    for c, label in enumerate(CLASSES):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            name = f"{label}_{i}"
            Image.fromarray(speckle(seed + 10 * c + i)).save(folder / label / f"{name}.png")
            boxes[f"{label}/{name}"] = (10 + i, 5 + i, 30 + 2 * i, 25 + i)
            if masks:
                mask = lesion_mask(boxes[f"{label}/{name}"])
                Image.fromarray(mask).save(folder / label / f"{name}_mask.png")
    return boxes


def data_cfg(raw, **roi) -> dict:
    return {"raw": raw, "classes": list(CLASSES), "roi": "box", **roi}


def test_the_crop_is_the_box_grown_by_the_margin_and_clamped_to_the_image():
    assert crop_box((10, 10, 30, 20), 60, 40, 0.1) == (8, 9, 32, 21)
    assert crop_box((0, 0, 60, 40), 60, 40, 0.5) == (0, 0, 60, 40)


def test_box_mode_keeps_the_pixels_of_the_grown_box():
    grey = speckle(1)
    cut = crop_to_region(grey, Region("mask", (10, 10, 30, 20)), RoiRule("box", 0.1))
    np.testing.assert_array_equal(cut, grey[9:21, 8:32])


def test_mask_mode_blackens_what_lies_outside_the_mask(tmp_path):
    grey = speckle(2)
    mask = np.zeros((40, 60), np.uint8)
    mask[12:18, 14:26] = 255
    mask[10, 10] = 255  # the box reaches (10, 10), the mask is not the box
    Image.fromarray(mask).save(tmp_path / "m.png")
    region = Region("mask", (10, 10, 26, 18), (str(tmp_path / "m.png"),))
    cut = crop_to_region(grey, region, RoiRule("mask", 0.0))
    assert cut.shape == (8, 16)
    np.testing.assert_array_equal(cut, np.where(mask > 127, grey, 0)[10:18, 10:26])


def test_whole_rule_or_whole_region_leaves_the_image_as_it_is():
    grey = speckle(3)
    assert crop_to_region(grey, Region("mask", (1, 1, 5, 5)), RoiRule()) is grey
    assert crop_to_region(grey, Region("whole"), RoiRule("box")) is grey


def test_masks_beside_an_image_give_its_region_and_several_are_united(tmp_path):
    raw = tmp_path / "raw"
    boxes = write_site(raw)
    second = lesion_mask((40, 30, 50, 35))
    Image.fromarray(second).save(raw / "benign/benign_0_mask_1.png")
    manifest = build_manifest(raw, data_cfg(raw))["manifest"].set_index("image_id")
    assert (manifest["roi_source"] == "mask").all()
    assert manifest.loc["malignant/malignant_2", "roi_box"] == " ".join(
        map(str, boxes["malignant/malignant_2"])
    )
    assert manifest.loc["benign/benign_0", "roi_box"] == "10 5 50 35"
    assert manifest.loc["benign/benign_0", "roi_masks"].count(";") == 1


def test_without_roi_no_mask_is_read_and_the_columns_are_empty(tmp_path):
    raw = tmp_path / "raw"
    write_site(raw)
    (raw / "benign/benign_0_mask.png").write_bytes(b"not a mask")  # never opened
    manifest = build_manifest(raw, data_cfg(raw, roi="none"))["manifest"]
    assert (manifest["roi_source"] == "").all() and (manifest["roi_box"] == "").all()


def wrong_size_mask(raw):
    Image.fromarray(np.full((20, 20), 255, np.uint8)).save(raw / "benign/benign_1_mask.png")


def empty_mask(raw):
    Image.fromarray(np.zeros((40, 60), np.uint8)).save(raw / "malignant/malignant_0_mask.png")


def image_gone(raw):
    (raw / "benign/benign_2.png").unlink()


@pytest.mark.parametrize(
    "damage, message",
    [
        (wrong_size_mask, r"benign_1_mask\.png: the mask is 20 x 20 .* 60 x 40"),
        (empty_mask, r"malignant_0_mask\.png: the mask marks no pixel"),
        (image_gone, r"benign_2_mask\.png: a lesion mask with no image"),
    ],
    ids=["mask of another size", "empty mask", "mask without its image"],
)
def test_a_bad_mask_is_a_named_error(tmp_path, damage, message):
    raw = tmp_path / "raw"
    write_site(raw)
    damage(raw)
    with pytest.raises(RegionError, match=message):
        build_manifest(raw, data_cfg(raw))


def test_an_image_without_a_region_is_an_error_or_dropped_or_whole(tmp_path):
    raw = tmp_path / "raw"
    write_site(raw)
    (raw / "benign/benign_1_mask.png").unlink()
    with pytest.raises(RegionError, match=r"benign_1\.png: no lesion region.*roi_missing"):
        build_manifest(raw, data_cfg(raw))
    dropped = build_manifest(raw, data_cfg(raw, roi_missing="drop"))
    assert "benign/benign_1" not in set(dropped["manifest"]["image_id"])
    assert dropped["rejected"]["path"].str.endswith("benign_1.png").any()
    assert (dropped["regions"]["status"].str.startswith("no lesion region")).sum() == 1
    whole = build_manifest(raw, data_cfg(raw, roi_missing="whole"))
    rows = whole["regions"].set_index("image_id")
    assert rows.loc["benign/benign_1", "roi_source"] == "whole"
    assert rows.loc["benign/benign_1", "status"].startswith("whole image")


def test_mask_mode_needs_a_mask_a_box_is_not_enough(tmp_path):
    folder = tmp_path / "site"
    write_site(folder, masks=False)
    rows = [f"{label}/{label}_{i}.png,{label},10,5,20,20" for label in CLASSES for i in range(3)]
    csv = folder / "images.csv"
    csv.write_text("path,label,bbox_x,bbox_y,bbox_w,bbox_h\n" + "\n".join(rows) + "\n")
    boxed = build_manifest(str(csv), data_cfg(str(csv)))["manifest"]
    assert (boxed["roi_source"] == "box").all() and (boxed["roi_box"] == "10 5 30 25").all()
    with pytest.raises(RegionError, match="no lesion region for data.roi: mask"):
        build_manifest(str(csv), data_cfg(str(csv), roi="mask"))


def test_a_box_outside_its_image_names_the_csv_line(tmp_path):
    folder = tmp_path / "site"
    write_site(folder, masks=False)
    rows = [f"{label}/{label}_{i}.png,{label},10,5,20,20" for label in CLASSES for i in range(3)]
    rows[2] = "benign/benign_2.png,benign,50,5,20,20"  # 50 + 20 > 60 px wide
    csv = folder / "images.csv"
    csv.write_text("path,label,bbox_x,bbox_y,bbox_w,bbox_h\n" + "\n".join(rows) + "\n")
    with pytest.raises(RegionError, match=r"images\.csv, line 4: the box x=50 .* not inside"):
        build_manifest(str(csv), data_cfg(str(csv)))


def test_a_csv_mask_column_and_a_mask_folder_give_regions(tmp_path):
    folder = tmp_path / "site"
    boxes = write_site(folder, masks=False)
    (folder / "masks").mkdir()
    for image_id, box in boxes.items():
        name = image_id.split("/")[1]
        Image.fromarray(lesion_mask(box)).save(folder / "masks" / f"{name}_tumor.png")
    rows = [f"{i}.png,{i.split('/')[0]},masks/{i.split('/')[1]}_tumor.png" for i in boxes]
    csv = folder / "images.csv"
    csv.write_text("path,label,mask\n" + "\n".join(rows) + "\n")
    listed = build_manifest(str(csv), data_cfg(str(csv)))["manifest"].set_index("image_id")
    site = [{"name": "a", "path": str(folder / "images_plain.csv"), "masks": str(folder / "masks")}]
    (folder / "images_plain.csv").write_text(
        "path,label\n" + "\n".join(f"{i}.png,{i.split('/')[0]}" for i in boxes) + "\n"
    )
    from_folder = build_manifest(site, data_cfg(site))["manifest"]
    for image_id, box in boxes.items():
        assert listed.loc[image_id, "roi_box"] == " ".join(map(str, box))
    assert from_folder["roi_box"].tolist() == listed["roi_box"].tolist()


def test_a_stray_mask_in_a_mask_folder_is_a_named_error(tmp_path):
    folder = tmp_path / "site"
    write_site(folder, masks=False)
    (folder / "masks").mkdir()
    Image.fromarray(lesion_mask((1, 1, 5, 5))).save(folder / "masks/someone_else.png")
    raw = [{"name": "a", "path": str(folder), "masks": str(folder / "masks")}]
    cfg = {**data_cfg(raw), "ignore_folders": ["masks"]}
    with pytest.raises(RegionError, match=r"someone_else\.png: a lesion mask with no image"):
        build_manifest(raw, cfg)


def test_model_input_is_the_region_resized(tmp_path):
    path = tmp_path / "x.png"
    grey = speckle(4)
    Image.fromarray(grey).save(path)
    pixels = model_input(path, 16, None, Region("box", (10, 10, 30, 30)), RoiRule("box", 0.0))
    expected = np.asarray(Image.fromarray(grey[10:30, 10:30]).resize((16, 16), Image.BILINEAR))
    np.testing.assert_array_equal(pixels, expected)


def test_shards_are_cut_to_the_regions(tmp_path, cfg):
    from busflow.augment.shards import ShardSpec, build_shard

    raw = tmp_path / "raw"
    write_site(raw)
    cfg["data"].update(raw=str(raw), roi="box", roi_margin=0.0)
    manifest = build_manifest(raw, cfg["data"])["manifest"]
    test = manifest[["image_id", "label", "group"]].assign(fold=0, split="test")
    shard = build_shard(test, manifest, ShardSpec("test", 0, 1), cfg)
    rows = manifest.set_index("image_id")
    for image_id, pixels in zip(shard["image_ids"], shard["images"]):
        x0, y0, x1, y1 = map(int, rows.loc[image_id, "roi_box"].split())
        whole = np.asarray(Image.open(rows.loc[image_id, "path"]))
        expected = Image.fromarray(whole[y0:y1, x0:x1]).resize((32, 32), Image.BILINEAR)
        np.testing.assert_array_equal(pixels, np.asarray(expected))
