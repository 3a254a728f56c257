"""Patients: a CSV's patient column keeps one patient's images on one side of every split, and
confidence intervals resample patients (or duplicate groups, or the paper's source images),
not rows."""

import numpy as np
import pytest
from PIL import Image

from busflow.data.manifest import build_manifest
from busflow.errors import ConfigError
from busflow.evaluate.metrics import bootstrap_intervals, ci_unit, evaluate_predictions
from busflow.split.assign import assign_splits, split_units

CLASSES = ("benign", "malignant")


def write_patients_csv(folder, n_patients: int = 30, views: int = 2, blank_at=None) -> str:
    """n_patients with ``views`` images each (different pixels); patient 0 has one benign and
    one malignant lesion."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in range(n_patients):
        for v in range(views):
            label = CLASSES[p % 2] if not (p == 0 and v == 1) else "malignant"
            name = f"p{p:02d}_v{v}.png"
            pixels = np.random.default_rng([p, v]).integers(0, 255, (32, 32), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name)
            patient = "" if blank_at == (p, v) else f"case{p:02d}"
            rows.append(f"{name},{label},{patient}")
    (folder / "images.csv").write_text("path,label,patient\n" + "\n".join(rows) + "\n")
    return str(folder / "images.csv")


def data_cfg(raw) -> dict:
    return {"raw": raw, "classes": list(CLASSES), "near_duplicate_distance": 0}


def test_a_patient_s_images_share_a_group_and_never_straddle_a_split(tmp_path):
    csv = write_patients_csv(tmp_path / "site")
    manifest = build_manifest(csv, data_cfg(csv))["manifest"]
    assert manifest.groupby("patient")["group"].nunique().eq(1).all()
    assert manifest["group"].str.startswith("p").all() and manifest["group"].nunique() == 30
    assert not manifest["conflict"].any()  # two lesions of one patient are not one picture
    split = {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 3, "record": None}
    for folds in (1, 3):
        table = assign_splits(manifest, split, folds).merge(manifest[["image_id", "patient"]])
        assert table.groupby(["fold", "patient"])["split"].nunique().eq(1).all()
    assert (manifest.groupby("patient")["label"].nunique() == 2).sum() == 1


def test_qc_counts_patients_per_split(tmp_path):
    csv = write_patients_csv(tmp_path / "site")
    manifest = build_manifest(csv, data_cfg(csv))["manifest"]
    split = assign_splits(manifest, {"val_fraction": 0.2, "test_fraction": 0.2, "record": None})
    units = split_units(split, manifest)
    assert units["images"].sum() == 60 and set(units.columns) >= {"groups", "patients"}
    per_split = units.groupby("split")[["images", "patients"]].sum()
    assert (per_split["patients"] < per_split["images"]).all()


def test_a_row_without_its_patient_id_is_a_named_error(tmp_path):
    csv = write_patients_csv(tmp_path / "site", blank_at=(3, 1))
    with pytest.raises(ConfigError, match=r"images\.csv: column 'patient' is empty .*line 9"):
        build_manifest(csv, data_cfg(csv))


def test_one_patient_id_at_two_sites_is_a_named_error(tmp_path):
    sites = [
        {"name": "north", "path": write_patients_csv(tmp_path / "north", n_patients=4)},
        {"name": "south", "path": write_patients_csv(tmp_path / "south", n_patients=4)},
    ]
    for p in (tmp_path / "south").glob("*.png"):  # other pictures, the same ids
        Image.fromarray(255 - np.asarray(Image.open(p))).save(p)
    with pytest.raises(ConfigError, match="patient id 'case00' is used at sites north, south"):
        build_manifest(sites, data_cfg(sites))


def test_a_cluster_bootstrap_of_singletons_is_the_row_bootstrap():
    rng = np.random.default_rng(0)
    labels, scores = rng.integers(0, 2, 80), rng.random(80)
    rows = bootstrap_intervals(labels, scores, 200, seed=4)
    singletons = bootstrap_intervals(labels, scores, 200, seed=4, clusters=np.arange(80))
    assert rows == singletons


def test_copies_of_one_image_do_not_narrow_the_interval():
    """Ten copies of each of 40 images are 40 independent units, not 400: the row bootstrap's
    interval shrinks about sqrt(10)-fold, the one over source images does not."""
    rng = np.random.default_rng(1)
    labels, scores = rng.integers(0, 2, 40), rng.random(40)
    copies = np.repeat(np.arange(40), 10)
    once = bootstrap_intervals(labels, scores, 400, seed=2)["auc"]
    by_row = bootstrap_intervals(labels[copies], scores[copies], 400, seed=2)["auc"]
    by_source = bootstrap_intervals(labels[copies], scores[copies], 400, seed=2, clusters=copies)
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(by_row) < 0.5 * width(once)
    assert width(by_source["auc"]) == pytest.approx(width(once), rel=0.25)


def test_the_record_names_its_unit_and_how_many():
    labels = np.array([0, 1] * 10)
    patients = ["p1", "p1"] + [f"p{i}" for i in range(2, 20)]
    record = evaluate_predictions(
        labels, np.linspace(0, 1, 20), {"bootstrap": 50}, clusters=patients
    )
    assert record["ci_unit"] == "patients" and record["n_units"] == 19
    assert ci_unit(["gA", "gA", "gB"]) == "duplicate groups"
    assert ci_unit(["pA", "gB"]) == "patients or duplicate groups"
    assert ci_unit(["gA", "gB"]) == "images"
    assert ci_unit(["gA", "gA"], "paper").startswith("source images")
