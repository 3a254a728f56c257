"""External validation sets: folder or CSV, named errors, training duplicates flagged."""

import shutil

import numpy as np
import pytest
from PIL import Image

from busflow.data.external import build_external_manifest
from busflow.data.formats import candidate_files
from busflow.data.manifest import build_manifest
from busflow.errors import BadImageError, ConfigError, DatasetLayoutError

DATA_CFG = {
    "classes": ["benign", "malignant"],
    "ignore_folders": [],
    "exclude_pattern": "*_mask*",
    "near_duplicate_distance": 4,
}


@pytest.fixture(scope="module")
def external_raw(tmp_path_factory):
    from busflow.data.demo import generate_demo_dataset

    raw = tmp_path_factory.mktemp("external") / "hospital_b"
    generate_demo_dataset(raw, n_per_class=6, size=64, seed=77)
    return raw


@pytest.fixture(scope="module")
def training_manifest(demo_raw):
    return build_manifest(demo_raw, DATA_CFG)["manifest"]


def write_csv(path, rows):
    path.write_text("path,label\n" + "".join(f"{p},{label}\n" for p, label in rows))
    return path


def test_a_folder_set_is_read_like_the_raw_folder(external_raw, training_manifest):
    manifest = build_external_manifest(external_raw, DATA_CFG, training_manifest)["manifest"]
    assert len(manifest) == 12 and manifest["label"].value_counts().to_dict() == {
        "benign": 6,
        "malignant": 6,
    }
    assert not manifest["in_training"].any()


def test_a_csv_set_resolves_paths_next_to_the_csv(external_raw, training_manifest, tmp_path):
    shutil.copytree(external_raw, tmp_path / "images")
    csv = write_csv(
        tmp_path / "labels.csv",
        [
            ("images/benign/benign_0000.png", "benign"),
            ("images/malignant/malignant_0001.png", "malignant"),
        ],
    )
    manifest = build_external_manifest(csv, DATA_CFG, training_manifest)["manifest"]
    assert manifest["image_id"].tolist() == [
        "images/benign/benign_0000",
        "images/malignant/malignant_0001",
    ]
    assert set(candidate_files(csv, DATA_CFG)) == {str(csv), *map(str, manifest["path"])}


def test_an_image_also_in_the_training_data_is_flagged(
    external_raw, training_manifest, demo_raw, tmp_path
):
    target = tmp_path / "set"
    shutil.copytree(external_raw, target)
    shutil.copy(
        demo_raw / "malignant" / "malignant_0003.png",
        target / "malignant" / "copied from training.png",
    )
    manifest = build_external_manifest(target, DATA_CFG, training_manifest)["manifest"].set_index(
        "image_id"
    )
    assert manifest["in_training"].sum() == 1
    assert (
        manifest.loc["malignant/copied from training", "training_match"]
        == "malignant/malignant_0003"
    )


def test_a_mirror_of_a_training_image_is_flagged(
    external_raw, training_manifest, demo_raw, tmp_path
):
    """Flipping is a training augmentation: a mirrored training image was, in effect, trained
    on."""
    target = tmp_path / "set"
    shutil.copytree(external_raw, target)
    pixels = np.asarray(Image.open(demo_raw / "benign" / "benign_0004.png"))
    Image.fromarray(np.fliplr(pixels)).save(target / "benign" / "mirrored training.png")
    manifest = build_external_manifest(target, DATA_CFG, training_manifest)["manifest"].set_index(
        "image_id"
    )
    assert manifest["in_training"].sum() == 1
    assert manifest.loc["benign/mirrored training", "training_match"] == "benign/benign_0004"


@pytest.mark.parametrize(
    "rows, header, message",
    [
        ([("a.png", "benign")], "file,label", "missing column"),
        ([("images/benign/benign_0000.png", "normal")], "path,label", "line 2: label 'normal'"),
        (
            [("images/benign/missing.png", "benign")],
            "path,label",
            "missing.png.*labels.csv, line 2",
        ),
    ],
)
def test_bad_csv_rows_name_the_csv_the_line_and_the_fix(
    external_raw, training_manifest, tmp_path, rows, header, message
):
    shutil.copytree(external_raw, tmp_path / "images")
    csv = tmp_path / "labels.csv"
    csv.write_text(header + "\n" + "".join(f"{p},{label}\n" for p, label in rows))
    with pytest.raises((ConfigError, BadImageError), match=message):
        build_external_manifest(csv, DATA_CFG, training_manifest)


def test_a_missing_csv_names_the_config_key(training_manifest, tmp_path):
    with pytest.raises(ConfigError, match="external:"):
        build_external_manifest(tmp_path / "nope.csv", DATA_CFG, training_manifest)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "path,label\nimages/benign/benign_0000.png,benign,extra\n",
            "line 2: not a CSV of the header.s 2 columns.*path,label",
        ),
        ("path,label\n", "lists no images"),
        ("", "the file is empty"),
    ],
    ids=["extra-field", "header-only", "empty"],
)
def test_a_malformed_csv_names_the_csv_and_the_fix(
    external_raw, training_manifest, tmp_path, text, message
):
    """Today: a bare pandas ParserError, or KeyError: 'phash'."""
    csv = tmp_path / "labels.csv"
    csv.write_text(text)
    with pytest.raises(ConfigError, match=message) as error:
        build_external_manifest(csv, DATA_CFG, training_manifest)
    assert str(csv) in str(error.value)


def test_a_missing_set_folder_names_the_external_key_not_data_raw(training_manifest, tmp_path):
    with pytest.raises(DatasetLayoutError, match="external:") as error:
        build_external_manifest(tmp_path / "hospital_c", DATA_CFG, training_manifest)
    assert "data.raw" not in str(error.value)
