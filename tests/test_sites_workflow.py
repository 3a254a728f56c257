"""Two hospitals as training data: leave one site out, end to end with real Snakemake and Keras,
on lesion regions (data.roi: box) from the sites' masks, one site naming its patients."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from workflow_helpers import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow
# Two models show the leave-one-site-out table (every model's fold jobs are the same rules, and
# each model costs the run about a minute here).
MODELS = ("baseline", "transfer")
SITES = ("north", "south")


def other_scanner(folder) -> None:
    """Give a generated site another scanner's look: darker gamma, softer speckle."""
    for path in (p for p in folder.rglob("*.png") if "_mask" not in p.name):
        pixels = (
            np.asarray(Image.open(path).filter(ImageFilter.GaussianBlur(1.2)), dtype=float) / 255
        )
        Image.fromarray(np.uint8(255 * pixels**1.6)).save(path)


@pytest.fixture(scope="module")
def two_site_run(tmp_path_factory):
    """Two generated sites (one with another scanner's look, given as a CSV with mask and patient
    columns, two images a patient) and one image filed at both; lesion regions from the masks
    (BUSI's <name>_mask.png beside the north's images); ~2 min."""
    from busflow.data.demo import generate_demo_dataset

    workdir = tmp_path_factory.mktemp("sites")
    for seed, site in enumerate(SITES):
        generate_demo_dataset(workdir / site, n_per_class=14, size=64, seed=40 + seed, masks=True)
    other_scanner(workdir / "south")
    for suffix in ("", "_mask"):
        shutil.copy(
            workdir / f"north/benign/benign_0003{suffix}.png",
            workdir / f"south/benign/shared_scan{suffix}.png",
        )
    # The south site comes as a CSV (a hospital's export), the north as class folders.
    listed = sorted(
        p.relative_to(workdir / "south")
        for p in (workdir / "south").rglob("*.png")
        if "_mask" not in p.name
    )
    rows = [
        f"{path},{path.parent.name},{path.with_name(path.stem + '_mask.png')},"
        f"{path.parent.name}-{i // 2}"
        for i, path in enumerate(listed)
    ]
    (workdir / "south/images.csv").write_text("path,label,mask,patient\n" + "\n".join(rows) + "\n")
    paths = {"north": str(workdir / "north"), "south": str(workdir / "south/images.csv")}
    config = write_config(
        workdir / "sites.yaml",
        {
            "data": {
                "raw": [{"name": site, "path": paths[site]} for site in SITES],
                "image_size": 32,
                "roi": "box",
            },
            "demo": {"generate": False},
            # the south's 14 patients a class: a larger share keeps both classes in validation
            "split": {"val_fraction": 0.3},
            "augment": {"factor": 2, "shards": 1},
            "evaluation": {"leave_one_site_out": True, "bootstrap": 50},
            "training": {model: {"epochs": 1} for model in MODELS},
            "models": list(MODELS),
            "export": {"onnx": False},  # tiny_run tests the ONNX export
        },
    )
    snakemake(workdir, "--cores", "2", configfile=config)
    return workdir


def test_each_fold_tests_one_whole_site_and_trains_only_on_the_other(two_site_run):
    manifest = pd.read_csv(two_site_run / "results/manifest.csv")
    assert (
        set(manifest["site"]) == set(SITES)
        and manifest["image_id"].str.split("/").str[0].isin(SITES).all()
    )
    split = pd.read_csv(two_site_run / "results/split.csv").merge(
        manifest[["image_id", "site"]], on="image_id"
    )
    for fold, site in enumerate(SITES):
        rows = split[split["fold"] == fold]
        assert (rows.loc[rows["site"] == site, "split"] == "test").all()
        assert (rows.loc[rows["site"] != site, "split"] != "test").all()


def test_an_image_filed_at_both_sites_is_never_trained_on_when_its_twin_is_tested(two_site_run):
    split = pd.read_csv(two_site_run / "results/split.csv").set_index(["fold", "image_id"])["split"]
    assert (
        split[(0, "south/benign/shared_scan")] == "excluded"
    )  # north held out: its twin is a test image
    assert split[(1, "north/benign/benign_0003")] == "excluded"


def test_the_table_has_a_row_per_held_out_site_and_their_mean(two_site_run):
    table = pd.read_csv(two_site_run / "results/comparison.csv")
    for site in SITES:
        rows = table[table["source"] == f"busflow (held-out site: {site})"]
        assert (
            rows["model"].tolist() == list(MODELS)
            and (rows["evaluation"] == f"held-out site {site}").all()
        )
    mean = table[table["source"] == "busflow (this run)"].set_index("model")
    per_site = (
        table[table["source"].str.startswith("busflow (held-out")].groupby("model")["auc"].mean()
    )
    assert (mean["evaluation"] == "leave-one-site-out, mean of 2 sites").all()
    np.testing.assert_allclose(mean.loc[list(MODELS), "auc"], per_site.loc[list(MODELS)])


def test_every_image_is_cut_to_its_mask_s_box(two_site_run):
    manifest = pd.read_csv(two_site_run / "results/manifest.csv", keep_default_na=False)
    assert (manifest["roi_source"] == "mask").all()
    regions = pd.read_csv(two_site_run / "results/qc/regions.csv", keep_default_na=False)
    assert (regions["status"] == "used").sum() == len(manifest)
    x0, y0, x1, y1 = map(
        int, manifest.set_index("image_id").loc["north/benign/benign_0003", "roi_box"].split()
    )
    mask = np.asarray(Image.open(two_site_run / "north/benign/benign_0003_mask.png")) > 127
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    assert (x0, y0, x1, y1) == (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    record = json.loads((two_site_run / "results/export/baseline/fold0/model.json").read_text())
    assert record["input"]["roi"]["mode"] == "box"
    assert "lesion region" in (two_site_run / "results/comparison.md").read_text()
    assert "Image region: lesion region" in (two_site_run / "results/model_card.md").read_text()


def test_a_patient_never_straddles_a_fold_and_its_cis_count_patients(two_site_run):
    manifest = pd.read_csv(two_site_run / "results/manifest.csv", keep_default_na=False)
    south = manifest[manifest["site"] == "south"]
    assert south["group"].str.startswith("p").all()
    split = pd.read_csv(two_site_run / "results/split.csv").merge(
        manifest[["image_id", "patient"]], on="image_id"
    )
    named = split[split["patient"] != ""]
    assert named.groupby(["fold", "patient"])["split"].nunique().eq(1).all()
    units = pd.read_csv(two_site_run / "results/qc/split_units.csv")
    assert units.loc[units["split"] == "test", "patients"].sum() == south["patient"].nunique()
    held_out_south = json.loads(
        (two_site_run / "results/folds/1/eval/baseline/metrics.json").read_text()
    )
    assert held_out_south["ci_unit"] == "patients"
    assert held_out_south["n_units"] == south["group"].nunique()
    held_out_north = json.loads(
        (two_site_run / "results/folds/0/eval/baseline/metrics.json").read_text()
    )
    # the north names no patients; its one scan filed at the south joins a south patient
    assert held_out_north["ci_unit"] == "patients or duplicate groups"


def test_a_changed_mask_re_runs_the_manifest(two_site_run):
    """The masks are the manifest's inputs under data.roi: an edited mask re-plans it (Snakemake
    compares input contents, not only times). The mask is restored after, so the shared run is
    left as it was."""
    mask = two_site_run / "north/malignant/malignant_0002_mask.png"
    original = mask.read_bytes()
    config = two_site_run / "sites.yaml"
    try:
        lesion = np.asarray(Image.open(mask)).copy()
        lesion[0, 0] = 255  # the expert's outline grows by a pixel
        Image.fromarray(lesion).save(mask)
        dry = snakemake(two_site_run, "-n", configfile=config)
        assert "build_manifest" in planned_jobs(dry.stdout + dry.stderr)
    finally:
        mask.write_bytes(original)
    again = snakemake(two_site_run, "-n", configfile=config)
    assert "Nothing to be done" in again.stdout + again.stderr
