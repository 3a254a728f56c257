"""busflow.data.formats: every format of labelled images is one entry, and each entry is read the
same way wherever a set can be given (a site of data.raw, an external set) and planned from the
same files. A new entry in DATA_FORMATS is checked by the contract test below once its sample set
is added to SAMPLES."""

import os

import pandas as pd
import pytest

from busflow.data.external import build_external_manifest
from busflow.data.formats import (
    CSV,
    DATA_FORMATS,
    FOLDER,
    candidate_files,
    check_source,
    format_of,
    layout_of,
    scan_source,
)
from busflow.data.manifest import build_manifest
from busflow.errors import ConfigError

DATA_CFG = {
    "classes": ["benign", "malignant"],
    "ignore_folders": [],
    "exclude_pattern": "*_mask*",
    "near_duplicate_distance": 4,
}


def folder_set(tmp_path):
    from busflow.data.demo import generate_demo_dataset

    generate_demo_dataset(tmp_path / "set", n_per_class=3, size=48, seed=5)
    return tmp_path / "set"


def csv_set(tmp_path):
    folder = folder_set(tmp_path)
    rows = [
        f"set/{p.relative_to(folder).as_posix()},{p.parent.name}" for p in folder.rglob("*.png")
    ]
    (tmp_path / "labels.csv").write_text("path,label\n" + "\n".join(sorted(rows)) + "\n")
    return tmp_path / "labels.csv"


SAMPLES = {CSV.name: csv_set, FOLDER.name: folder_set}  # one small set per format


def test_a_path_is_read_in_the_first_format_that_matches_it(tmp_path):
    assert format_of(tmp_path / "labels.CSV") is CSV
    assert format_of(tmp_path / "hospital_b") is FOLDER
    assert DATA_FORMATS[-1] is FOLDER  # the fallback comes last
    assert set(SAMPLES) == {entry.name for entry in DATA_FORMATS}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_format_plans_from_the_files_it_reads(name, tmp_path):
    source = SAMPLES[name](tmp_path)
    assert format_of(source).name == name
    images, rejected = scan_source(source, DATA_CFG, "data.raw")
    assert len(images) == 6 and rejected.empty
    assert set(images["path"]) <= set(candidate_files(source, DATA_CFG))
    assert all(isinstance(entry, str) for entry in layout_of(source, DATA_CFG))
    check_source(source, "data.raw")  # a readable set passes the planning check


@pytest.mark.parametrize("name", list(SAMPLES))
def test_a_site_and_an_external_set_in_one_format_are_read_alike(name, tmp_path):
    source = SAMPLES[name](tmp_path)
    site = build_manifest(source, DATA_CFG)["manifest"]
    external = build_external_manifest(source, DATA_CFG, site)["manifest"]
    columns = ["image_id", "path", "label", "phash"]
    pd.testing.assert_frame_equal(
        site[columns].sort_values("image_id", ignore_index=True), external[columns]
    )
    assert external["in_training"].all()  # the same pictures


@pytest.mark.parametrize("name", list(SAMPLES))
def test_a_set_given_to_predict_lists_the_images_the_manifest_reads(name, tmp_path):
    """New images come in the same formats (busflow.predict.new_images), labels not needed."""
    from busflow.predict.new_images import gather

    source = SAMPLES[name](tmp_path)
    images, _ = scan_source(source, DATA_CFG, "data.raw")
    listed = gather([source])
    assert sorted(os.path.realpath(path) for _, path in listed) == sorted(
        os.path.realpath(path) for path in images["path"]
    )
    assert len({image_id for image_id, _ in listed}) == len(listed)


def test_a_missing_csv_stops_at_planning_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="not found. Fix its path under external\\[0\\]"):
        check_source(tmp_path / "gone.csv", "external[0]")
    check_source(tmp_path / "no_folder_yet", "data.raw")  # a folder: the manifest job reports it
