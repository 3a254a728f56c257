"""Split stability, the README's promise: once split, no image changes split or test fold, whatever
images are added or removed later (the split record, busflow.split.record)."""

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_manifest import DATA_CFG
from test_split import SPLIT_CFG, synthetic_manifest

from busflow.data.demo import render_lesion_image
from busflow.data.manifest import build_manifest
from busflow.jobs.split import split_images_job
from busflow.split.assign import plan_split
from busflow.split.record import read_record, settings_key

ROLE = ["fold", "split"]


def split_and_record(manifest, folds, record=None):
    plan = plan_split(
        manifest, SPLIT_CFG, folds, record if record is not None else read_record("/nonexistent")
    )
    return plan.table, plan.record, plan.conflicts


def roles(table, ids=None):
    """image_id -> its split in every fold, for comparing runs."""
    rows = table if ids is None else table[table["image_id"].isin(ids)]
    return {i: tuple(r.sort_values("fold")["split"]) for i, r in rows.groupby("image_id")}


def with_copy(manifest, image_id, copy_id):
    """The manifest after a copy of ``image_id`` (same group) was added under ``copy_id``."""
    original = manifest[manifest["image_id"] == image_id].iloc[0]
    return pd.concat(
        [manifest, pd.DataFrame([{**original.to_dict(), "image_id": copy_id}])], ignore_index=True
    )


def regroup(manifest, image_id, group):
    """A duplicate group's key changes when a new member holds a smaller key (here: by hand)."""
    changed = manifest.copy()
    old = changed.loc[changed["image_id"] == image_id, "group"].iloc[0]
    changed.loc[changed["group"] == old, "group"] = group
    return changed


@pytest.mark.parametrize("folds", [1, 5])
def test_adding_removing_and_duplicating_moves_no_existing_image(folds):
    manifest = synthetic_manifest(400)
    first, record, _ = split_and_record(manifest, folds)
    kept = set(manifest["image_id"][30:])
    test_image = sorted(set(first.loc[first["split"] == "test", "image_id"]) & kept)[0]
    # Remove 30 images, add 50, and add a copy of a test image that becomes its group's key.
    changed = pd.concat([manifest.iloc[30:], synthetic_manifest(50, start=400)], ignore_index=True)
    changed = regroup(with_copy(changed, test_image, "a_rescan_000"), test_image, "a_rescan_000")
    second, record, conflicts = split_and_record(changed, folds, record)
    assert roles(second, kept) == roles(first, kept)
    assert roles(second)["a_rescan_000"] == roles(first)[test_image]
    assert conflicts.empty
    # Removed images come back to their old split.
    third, _, _ = split_and_record(manifest, folds, record)
    assert roles(third) == roles(first)


def test_a_new_image_linking_groups_in_different_splits_is_left_out_and_listed():
    manifest = synthetic_manifest(200)
    first, record, _ = split_and_record(manifest, 1)
    by_split = first[first["label"] == "benign"].groupby("split")["image_id"].first()
    test_image, train_image = by_split["test"], by_split["train"]
    linked = with_copy(manifest, test_image, "bridge")
    linked.loc[linked["image_id"].isin([test_image, train_image, "bridge"]), "group"] = "merged"
    second, _, conflicts = split_and_record(linked, 1, record)
    assert "bridge" not in set(second["image_id"])
    assert roles(second, [test_image, train_image]) == roles(first, [test_image, train_image])
    listed = conflicts.set_index("image_id")["status"]
    assert listed.to_dict() == {"bridge": "left_out", test_image: "kept", train_image: "kept"}
    assert "different splits" in conflicts.set_index("image_id").loc["bridge", "reason"]


def test_record_sections_are_kept_per_split_settings():
    manifest = synthetic_manifest(300)
    _, record, _ = split_and_record(manifest, 1)
    _, record, _ = split_and_record(manifest, 5, record)
    assert set(record["settings"]) == {settings_key(SPLIT_CFG, 1), settings_key(SPLIT_CFG, 5)}
    assert len(record) == 300 + 5 * 300


def test_group_keys_come_from_pixels_not_names(raw_copy):
    """Copies whose names sort first used to become their group's key and move the group."""
    before = build_manifest(raw_copy, DATA_CFG)["manifest"].set_index("image_id")
    for source in sorted((raw_copy / "benign").glob("*.png"))[:3]:
        shutil.copy(source, raw_copy / "benign" / f"a_rescan_{source.name}")
    after = build_manifest(raw_copy, DATA_CFG)["manifest"].set_index("image_id")
    assert (after.loc[before.index, "group"] == before["group"]).all()


def test_split_job_keeps_a_test_image_in_test_when_a_copy_named_to_sort_first_is_added(
    raw_copy, tmp_path
):
    """End to end through files: the record, written by the first
    split job, is honoured by the next."""
    out = {
        "split": tmp_path / "split.csv",
        "conflicts": tmp_path / "split_conflicts.csv",
        "units": tmp_path / "split_units.csv",
    }
    cfg = {**SPLIT_CFG, "record": str(tmp_path / "record.csv")}
    manifest_csv = tmp_path / "manifest.csv"

    def run_split():
        build_manifest(raw_copy, DATA_CFG)["manifest"].to_csv(manifest_csv, index=False)
        split_images_job(manifest_csv, cfg, 1, out)
        return pd.read_csv(out["split"]).set_index("image_id")["split"]

    first = run_split()
    test_id = first[first == "test"].index[0]
    label = test_id.split("/")[0]
    shutil.copy(raw_copy / f"{test_id}.png", raw_copy / label / "a_rescan.png")
    pixels = render_lesion_image(np.random.default_rng(99), "benign", 64)
    Image.fromarray(pixels).save(raw_copy / "benign" / "a_new_scan.png")
    second = run_split()
    assert (second.loc[first.index] == first).all()
    assert second[f"{label}/a_rescan"] == "test"
    assert pd.read_csv(out["conflicts"]).empty
