"""Two hospitals as training data: leave one site out, end to end with real Snakemake and Keras."""

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from workflow_helpers import snakemake, write_config

pytestmark = pytest.mark.workflow
# Two models show the leave-one-site-out table (every model's fold jobs are the same rules, and
# each model costs the run about a minute here).
MODELS = ("baseline", "transfer")
SITES = ("north", "south")


def other_scanner(folder) -> None:
    """Give a generated site another scanner's look: darker gamma, softer speckle."""
    for path in folder.rglob("*.png"):
        pixels = (
            np.asarray(Image.open(path).filter(ImageFilter.GaussianBlur(1.2)), dtype=float) / 255
        )
        Image.fromarray(np.uint8(255 * pixels**1.6)).save(path)


@pytest.fixture(scope="module")
def two_site_run(tmp_path_factory):
    """Two generated sites (one with another scanner's look, given as a CSV) and one image filed at
    both; ~2 min."""
    from busflow.data.demo import generate_demo_dataset

    workdir = tmp_path_factory.mktemp("sites")
    for seed, site in enumerate(SITES):
        generate_demo_dataset(workdir / site, n_per_class=14, size=64, seed=40 + seed)
    other_scanner(workdir / "south")
    shutil.copy(workdir / "north/benign/benign_0003.png", workdir / "south/benign/shared_scan.png")
    # The south site comes as a CSV of path,label (a hospital's export), the north as class folders.
    listed = sorted(p.relative_to(workdir / "south") for p in (workdir / "south").rglob("*.png"))
    rows = [f"{path},{path.parent.name}" for path in listed]
    (workdir / "south/images.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    paths = {"north": str(workdir / "north"), "south": str(workdir / "south/images.csv")}
    config = write_config(
        workdir / "sites.yaml",
        {
            "data": {
                "raw": [{"name": site, "path": paths[site]} for site in SITES],
                "image_size": 32,
            },
            "demo": {"generate": False},
            "augment": {"factor": 2, "shards": 1},
            "evaluation": {"leave_one_site_out": True, "bootstrap": 50},
            "training": {model: {"epochs": 1} for model in MODELS},
            "models": list(MODELS),
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
