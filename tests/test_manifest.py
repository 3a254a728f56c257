"""The manifest: bad inputs stop the run with the file's name; duplicates share a group."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from busflow.data.manifest import build_manifest
from busflow.errors import BadImageError, ConfigError, DatasetLayoutError

DATA_CFG = {
    "classes": ["benign", "malignant"],
    "ignore_folders": ["normal"],
    "exclude_pattern": "*_mask*",
    "near_duplicate_distance": 4,
}


def first_image(raw, label="benign"):
    return sorted((raw / label).glob("*.png"))[0]


def test_manifest_lists_every_image_with_size_hash_and_group(demo_raw):
    manifest = build_manifest(demo_raw, DATA_CFG)["manifest"]
    assert len(manifest) == 24
    assert set(manifest["label"]) == {"benign", "malignant"}
    assert (manifest[["width", "height"]] == 64).all().all()
    assert manifest["sha256"].str.len().eq(64).all()
    assert manifest["group"].nunique() == 24


@pytest.mark.parametrize(
    "make_bad, reason",
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(os.urandom(500)), "not an image"),
        (lambda p: p.write_bytes(p.read_bytes()[:200]), "truncated"),
        (lambda p: (p.unlink(), os.symlink(p.parent / "gone.png", p)), "cannot be read"),
    ],
    ids=["zero-byte", "not-an-image", "truncated", "unreadable"],
)
def test_bad_image_stops_with_its_name(raw_copy, make_bad, reason):
    bad = first_image(raw_copy)
    make_bad(bad)
    with pytest.raises(BadImageError) as error:
        build_manifest(raw_copy, DATA_CFG)
    assert str(bad) in str(error.value)
    assert reason in str(error.value)
    assert "on_bad_image: skip" in str(error.value)


def test_non_image_file_in_class_folder_is_an_error(raw_copy):
    (raw_copy / "malignant" / "notes.txt").write_text("scanner settings")
    with pytest.raises(BadImageError, match="notes.txt"):
        build_manifest(raw_copy, DATA_CFG)


def test_skip_mode_lists_bad_files_in_rejected(raw_copy):
    bad = first_image(raw_copy)
    bad.write_bytes(b"")
    tables = build_manifest(raw_copy, {**DATA_CFG, "on_bad_image": "skip"})
    assert tables["rejected"]["path"].tolist() == [str(bad)]
    assert str(bad) not in tables["manifest"]["path"].tolist()
    assert len(tables["manifest"]) == 23


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda raw: shutil.rmtree(raw / "malignant"), "class folder missing"),
        (lambda raw: [p.unlink() for p in (raw / "malignant").iterdir()], "holds no images"),
        (lambda raw: (raw / "Benign_extra").mkdir(), "unknown folder"),
    ],
    ids=["missing-class", "empty-class", "unknown-folder"],
)
def test_layout_errors_name_the_folder(raw_copy, change, message):
    change(raw_copy)
    with pytest.raises(DatasetLayoutError, match=message) as error:
        build_manifest(raw_copy, DATA_CFG)
    assert str(raw_copy) in str(error.value)


def test_missing_raw_folder_says_which_setting(tmp_path):
    with pytest.raises(DatasetLayoutError, match="data.raw"):
        build_manifest(tmp_path / "nowhere", DATA_CFG)


def test_masks_hidden_files_and_ignored_folders_are_not_images(raw_copy):
    source = first_image(raw_copy)
    shutil.copy(source, source.with_name(source.stem + "_mask.png"))
    (raw_copy / "benign" / ".DS_Store").write_bytes(b"\0\1")
    (raw_copy / "normal").mkdir()
    shutil.copy(source, raw_copy / "normal" / "normal (1).png")
    manifest = build_manifest(raw_copy, DATA_CFG)["manifest"]
    assert len(manifest) == 24


def test_exact_duplicate_saved_as_rgb_shares_a_group(raw_copy):
    source = first_image(raw_copy)
    Image.open(source).convert("RGB").save(raw_copy / "benign" / "copy in rgb.png")
    tables = build_manifest(raw_copy, DATA_CFG)
    manifest = tables["manifest"].set_index("image_id")
    original_id = f"benign/{source.stem}"
    assert manifest.loc["benign/copy in rgb", "group"] == manifest.loc[original_id, "group"]
    assert "exact" in tables["duplicates"]["kind"].tolist()


def test_near_duplicate_shares_a_group_and_distinct_images_do_not(raw_copy):
    source = first_image(raw_copy)
    pixels = np.asarray(Image.open(source), dtype=np.int16)
    brighter = np.clip(pixels + 6, 0, 255).astype(np.uint8)
    Image.fromarray(brighter).resize((80, 72)).save(
        raw_copy / "benign" / "rescanned.jpg", quality=85
    )
    tables = build_manifest(raw_copy, DATA_CFG)
    manifest = tables["manifest"].set_index("image_id")
    assert (
        manifest.loc["benign/rescanned", "group"] == manifest.loc[f"benign/{source.stem}", "group"]
    )
    assert "near" in tables["duplicates"]["kind"].tolist()
    assert manifest["group"].nunique() == 24


def test_image_under_two_labels_is_a_reported_conflict(raw_copy):
    source = first_image(raw_copy, "benign")
    shutil.copy(source, raw_copy / "malignant" / "malignant (145).png")
    tables = build_manifest(raw_copy, DATA_CFG)
    conflicts = tables["conflicts"]
    assert set(conflicts["image_id"]) == {f"benign/{source.stem}", "malignant/malignant (145)"}
    assert tables["manifest"]["conflict"].sum() == 2


def test_conflict_can_stop_the_run(raw_copy):
    shutil.copy(first_image(raw_copy, "benign"), raw_copy / "malignant" / "dup.png")
    with pytest.raises(DatasetLayoutError, match="two labels"):
        build_manifest(raw_copy, {**DATA_CFG, "on_label_conflict": "error"})


def test_manifest_does_not_depend_on_listing_order(raw_copy):
    first = build_manifest(raw_copy, DATA_CFG)["manifest"]
    shutil.copy(first_image(raw_copy), raw_copy / "benign" / "aaa copy.png")
    second = build_manifest(raw_copy, DATA_CFG)["manifest"]
    kept = second[second["image_id"] != "benign/aaa copy"].reset_index(drop=True)
    changed_group = kept["group"] != first["group"]
    # Only the copied image's group key may change (its copy's id sorts first).
    assert changed_group.sum() <= 1
    pd.testing.assert_series_equal(kept["sha256"], first["sha256"])


def test_two_files_with_one_stem_stop_the_run_naming_both(raw_copy):
    """benign/x.png and benign/x.jpg would share the image_id benign/x."""
    source = first_image(raw_copy)
    Image.open(source).save(source.with_suffix(".jpg"), quality=90)
    with pytest.raises(BadImageError, match="share the image_id") as error:
        build_manifest(raw_copy, DATA_CFG)
    assert str(source) in str(error.value) and str(source.with_suffix(".jpg")) in str(error.value)
    tables = build_manifest(raw_copy, {**DATA_CFG, "on_bad_image": "skip"})
    assert tables["manifest"]["image_id"].is_unique
    assert set(tables["rejected"]["path"]) == {str(source), str(source.with_suffix(".jpg"))}


def write_png_header(path, width, height):
    """A PNG that says it is width x height (only the header is real): a decompression bomb."""
    import struct
    import zlib

    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


def test_an_image_over_the_pixel_limit_is_named_and_skippable(raw_copy):
    bomb = raw_copy / "benign" / "bomb.png"
    write_png_header(bomb, 20000, 20000)
    with pytest.raises(BadImageError, match="data.max_image_pixels") as error:
        build_manifest(raw_copy, DATA_CFG)
    assert str(bomb) in str(error.value)
    tables = build_manifest(raw_copy, {**DATA_CFG, "on_bad_image": "skip"})
    assert tables["rejected"]["path"].tolist() == [str(bomb)]
    with pytest.raises(BadImageError, match="data.max_image_pixels"):
        build_manifest(raw_copy, {**DATA_CFG, "max_image_pixels": 64 * 64 - 1})


def test_a_broken_link_is_named_and_skippable(raw_copy):
    link = raw_copy / "malignant" / "moved away.png"
    os.symlink(raw_copy / "nowhere.png", link)
    with pytest.raises(BadImageError, match="broken link") as error:
        build_manifest(raw_copy, DATA_CFG)
    assert str(link) in str(error.value)
    assert build_manifest(raw_copy, {**DATA_CFG, "on_bad_image": "skip"})["rejected"][
        "path"
    ].tolist() == [str(link)]


def test_blank_images_are_bad_images_not_duplicates(raw_copy):
    """Every flat image has the same perceptual hash; grouped, they
    became 'duplicates' (and conflicts)."""
    Image.new("L", (1, 1), 0).save(raw_copy / "benign" / "blank.png")
    Image.new("L", (300, 200), 0).save(raw_copy / "malignant" / "black frame.png")
    with pytest.raises(BadImageError, match="blank"):
        build_manifest(raw_copy, DATA_CFG)
    tables = build_manifest(raw_copy, {**DATA_CFG, "on_bad_image": "skip"})
    assert len(tables["rejected"]) == 2 and tables["rejected"]["reason"].str.contains("blank").all()
    assert tables["conflicts"].empty and tables["duplicates"].empty


def test_an_unsupported_format_says_which_formats_are_read(raw_copy):
    Image.open(first_image(raw_copy)).save(raw_copy / "benign" / "scan.webp")
    with pytest.raises(BadImageError, match=r"unsupported format '\.webp'.*\.png"):
        build_manifest(raw_copy, DATA_CFG)


def test_a_file_as_the_raw_folder_is_called_a_file(tmp_path):
    (tmp_path / "images.zip").write_bytes(b"PK")
    with pytest.raises(DatasetLayoutError, match="is a file, not a folder. Set data.raw"):
        build_manifest(tmp_path / "images.zip", DATA_CFG)


def test_a_class_with_every_image_rejected_names_them_in_the_error(raw_copy):
    """The job stops, so qc/rejected.csv is never written: the
    message cannot send the user there."""
    for path in (raw_copy / "malignant").glob("*.png"):
        path.write_bytes(b"")
    with pytest.raises(DatasetLayoutError) as error:
        build_manifest(raw_copy, {**DATA_CFG, "on_bad_image": "skip"})
    assert "rejected.csv" not in str(error.value)
    assert "malignant_0000.png (the file is empty (0 bytes))" in str(error.value)


def test_a_shifted_or_tighter_framed_rescan_shares_its_originals_group(raw_copy):
    """A 3-pixel shift or a 4-pixel crop of a 64 px image: the whole-image pHash grouped 0 of 20."""
    sources = sorted((raw_copy / "benign").glob("*.png"))[:5]
    for source in sources:
        pixels = np.asarray(Image.open(source))
        shifted = np.zeros_like(pixels)
        shifted[3:, 3:] = pixels[:-3, :-3]
        Image.fromarray(shifted).save(source.with_name(f"{source.stem} shifted.png"))
        Image.fromarray(pixels[4:-4, 4:-4]).save(source.with_name(f"{source.stem} cropped.png"))
    tables = build_manifest(raw_copy, DATA_CFG)
    group = tables["manifest"].set_index("image_id")["group"]
    for source in sources:
        original = f"benign/{source.stem}"
        assert group[f"{original} shifted"] == group[original] == group[f"{original} cropped"]
    assert group.nunique() == 24  # and no distinct pictures merged


def test_a_left_right_mirrored_copy_shares_its_originals_group(raw_copy):
    """Flipping is a training augmentation: a mirrored copy in another split would be seen in
    training as the flipped original. The window hashes alone grouped 0 of 5."""
    sources = sorted((raw_copy / "malignant").glob("*.png"))[:5]
    for source in sources:
        pixels = np.asarray(Image.open(source))
        Image.fromarray(np.fliplr(pixels)).save(source.with_name(f"{source.stem} mirrored.png"))
    tables = build_manifest(raw_copy, DATA_CFG)
    group = tables["manifest"].set_index("image_id")["group"]
    for source in sources:
        assert group[f"malignant/{source.stem} mirrored"] == group[f"malignant/{source.stem}"]
    assert group.nunique() == 24  # and no distinct pictures merged
    mirrored = tables["duplicates"][tables["duplicates"]["duplicate_of"].str.endswith("mirrored")]
    assert len(mirrored) == 5 and set(mirrored["kind"]) == {"near"}


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparent_regions_are_black_whatever_the_file_keeps_under_them(tmp_path, mode):
    """BrEaST crops regions out with alpha 0; some files keep text
    under them, which must not show."""
    from busflow.data.images import decode_image

    grey = np.full((8, 8), 120, dtype=np.uint8)
    alpha = np.full((8, 8), 255, dtype=np.uint8)
    grey[:, :3], alpha[:, :3] = 255, 0  # hidden white "text" under a transparent band
    channels = [grey, grey, grey, alpha] if mode == "RGBA" else [grey, alpha]
    path = tmp_path / f"scan_{mode}.png"
    Image.fromarray(np.stack(channels, axis=-1), mode).save(path)

    pixels, original_mode = decode_image(path)

    assert original_mode == mode
    assert (pixels[:, :3] == 0).all() and (pixels[:, 3:] == 120).all()


def test_a_site_can_be_a_csv_of_path_and_label(raw_copy, tmp_path):
    """data.raw lists a folder site and a CSV site: one manifest, ids prefixed by site, and a copy
    of a folder-site image listed in the CSV found as its duplicate across sites."""
    listed = tmp_path / "export"
    listed.mkdir()
    shutil.copy(raw_copy / "malignant/malignant_0001.png", listed / "scan_a.png")
    shutil.copy(raw_copy / "benign/benign_0002.png", listed / "scan_b.png")
    csv_path = listed / "labels.csv"
    csv_path.write_text("path,label\nscan_a.png,malignant\nscan_b.png,benign\n")
    sites = [{"name": "north", "path": str(raw_copy)}, {"name": "south", "path": str(csv_path)}]
    manifest = build_manifest(sites, DATA_CFG)["manifest"].set_index("image_id")
    south = manifest[manifest["site"] == "south"]
    assert sorted(south.index) == ["south/scan_a", "south/scan_b"]
    assert south.loc["south/scan_a", "label"] == "malignant"
    assert (manifest["site"] == "north").sum() == len(manifest) - 2
    twin = manifest.loc["north/benign/benign_0002", "group"]
    assert manifest.loc["south/scan_b", "group"] == twin


def test_a_csv_site_with_an_unknown_label_names_the_csv_line_and_the_fix(raw_copy, tmp_path):
    shutil.copy(raw_copy / "benign/benign_0002.png", tmp_path / "scan.png")
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("path,label\nscan.png,maybe\n")
    sites = [{"name": "north", "path": str(raw_copy)}, {"name": "south", "path": str(csv_path)}]
    with pytest.raises(ConfigError, match=r"labels.csv, line 2: label 'maybe'.*data.classes"):
        build_manifest(sites, DATA_CFG)
