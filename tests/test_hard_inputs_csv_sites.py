"""Hostile inputs, round 3 (issue 28): CSV paths that leave their folder, and messages that did
not name the problem. Each case: a clear named error with the fix, or a correct result."""

import shutil

import pytest
from PIL import Image

from busflow.config.settings import check_settings, check_site_names
from busflow.data.formats import check_sources
from busflow.data.images import decode_image
from busflow.data.manifest import build_manifest
from busflow.errors import BadImageError, ConfigError

from workflow_helpers import planned_jobs, snakemake, write_config

DATA_CFG = {
    "classes": ["benign", "malignant"],
    "ignore_folders": ["normal"],
    "exclude_pattern": "*_mask*",
    "near_duplicate_distance": 4,
}


def csv_site(tmp_path, raw_copy, rows: str):
    """A folder site 'north' and a CSV site 'south' (labels.csv in tmp_path/csvs)."""
    folder = tmp_path / "csvs"
    folder.mkdir(exist_ok=True)
    shutil.copy(raw_copy / "benign/benign_0002.png", folder / "scan.png")
    (tmp_path / "outside").mkdir(exist_ok=True)
    shutil.copy(raw_copy / "malignant/malignant_0003.png", tmp_path / "outside" / "x.png")
    csv_path = folder / "labels.csv"
    csv_path.write_text("path,label\n" + rows)
    return [{"name": "north", "path": str(raw_copy)}, {"name": "south", "path": str(csv_path)}]


def test_a_csv_path_that_climbs_out_of_its_folder_is_refused(raw_copy, tmp_path):
    sites = csv_site(tmp_path, raw_copy, "scan.png,benign\n../outside/x.png,malignant\n")
    with pytest.raises(ConfigError) as error:
        build_manifest(sites, DATA_CFG)
    message = str(error.value)
    assert "labels.csv, line 3" in message and "outside the CSV's folder" in message
    assert "data.csv_paths_outside_folder: true" in message


def test_an_absolute_path_elsewhere_is_refused_too(raw_copy, tmp_path):
    outside = tmp_path / "outside" / "x.png"
    sites = csv_site(tmp_path, raw_copy, f"scan.png,benign\n{outside},malignant\n")
    with pytest.raises(ConfigError, match="line 3.*outside the CSV's folder"):
        build_manifest(sites, DATA_CFG)


def test_allowed_outside_paths_get_normalised_ids_without_the_machines_path(raw_copy, tmp_path):
    outside = tmp_path / "outside" / "x.png"
    rows = f"scan.png,benign\n./sub/../scan2.png,benign\n{outside},malignant\n"
    sites = csv_site(tmp_path, raw_copy, rows)
    shutil.copy(raw_copy / "benign/benign_0005.png", tmp_path / "csvs" / "scan2.png")
    manifest = build_manifest(sites, {**DATA_CFG, "csv_paths_outside_folder": True})["manifest"]
    south = sorted(manifest.loc[manifest["site"] == "south", "image_id"])
    assert south[1:] == ["south/scan", "south/scan2"]
    assert south[0].startswith("south/outside/") and south[0].endswith("/x")
    assert all(".." not in i and str(tmp_path) not in i for i in manifest["image_id"])


def test_a_row_listed_twice_names_the_csv_and_both_lines(raw_copy, tmp_path):
    rows = "scan.png,benign\n./scan.png,benign\n"
    sites = csv_site(tmp_path, raw_copy, rows)
    with pytest.raises(ConfigError, match=r"listed 2 times in .*labels.csv, lines 2 and 3"):
        build_manifest(sites, DATA_CFG)


@pytest.mark.parametrize("name", ["../evil", "a/b", ".hidden"])
def test_a_bad_site_name_is_named_before_the_schema_dump(name, tmp_path):
    config = {"data": {"raw": [{"name": "ok", "path": "x"}, {"name": name, "path": "y"}]}}
    with pytest.raises(ConfigError, match=rf"data.raw\[1\].name '{name}': a site's name"):
        check_site_names(config)


def multi_site_config(cfg, sites):
    cfg["data"]["raw"] = sites
    cfg["demo"]["generate"] = False
    return cfg


def test_two_sites_reading_one_folder_are_refused(cfg, raw_copy):
    sites = [{"name": "a", "path": str(raw_copy)}, {"name": "b", "path": str(raw_copy) + "/."}]
    with pytest.raises(ConfigError, match="sites 'a' and 'b' both read"):
        check_settings(multi_site_config(cfg, sites))


def test_a_missing_csv_site_is_named_at_planning(cfg, raw_copy, tmp_path):
    sites = [{"name": "a", "path": str(raw_copy)}, {"name": "b", "path": str(tmp_path / "no.csv")}]
    with pytest.raises(ConfigError, match=r"no.csv: CSV of images not found.*data.raw\[1\] \(b\)"):
        check_sources(multi_site_config(cfg, sites))


@pytest.mark.workflow
def test_a_missing_external_csv_gets_busflows_message_under_dry_run(tmp_path):
    overlay = write_config(
        tmp_path / "ext.yaml", {"external": [{"name": "b", "path": str(tmp_path / "gone.csv")}]}
    )
    result = snakemake(tmp_path, "-n", configfile=overlay, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "gone.csv: CSV of images not found. Fix its path under external[0] (b)" in output
    assert "MissingInputException" not in output


@pytest.mark.workflow
def test_an_image_size_past_the_maximum_is_refused_by_the_schema(tmp_path):
    overlay = write_config(tmp_path / "big.yaml", {"data": {"image_size": 100000}})
    result = snakemake(tmp_path, "-n", configfile=overlay, check=False)
    assert result.returncode != 0 and "100000 is greater than the maximum of 1024" in (
        result.stdout + result.stderr
    )
    fine = write_config(tmp_path / "fine.yaml", {"data": {"image_size": 1024}})
    assert planned_jobs(snakemake(tmp_path, "-n", configfile=fine).stdout)


def test_an_animated_gif_is_refused_naming_its_frames(tmp_path):
    frames = [Image.new("L", (40, 40), value) for value in (10, 200, 90)]
    path = tmp_path / "cine.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(BadImageError, match=r"cine.gif: an animated or multi-frame image \(3"):
        decode_image(path)
    still = tmp_path / "still.gif"
    frames[1].save(still)
    assert decode_image(still)[0].mean() == 200
