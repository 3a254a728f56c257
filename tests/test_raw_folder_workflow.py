"""The manifest rule under Snakemake when the raw folder changes shape: broken links are reported by
busflow, and a layout change re-runs the layout checks. Only the manifest is built (seconds)."""

import os
import shutil

import pytest

from workflow_helpers import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow
MANIFEST = "results/manifest.csv"


@pytest.fixture
def workdir(raw_copy, tmp_path):
    """A working directory whose config reads raw_copy (no demo data)."""
    work = tmp_path / "work"
    work.mkdir()
    for on_bad_image in ("error", "skip"):
        write_config(
            work / f"{on_bad_image}.yaml",
            {
                "data": {"raw": str(raw_copy), "on_bad_image": on_bad_image},
                "demo": {"generate": False},
            },
        )
    return work


def run(workdir, *args, check=True, on_bad_image="error"):
    return snakemake(
        workdir, *args, MANIFEST, configfile=workdir / f"{on_bad_image}.yaml", check=check
    )


def test_a_broken_link_is_named_by_busflow_and_skippable(workdir, raw_copy):
    """Today Snakemake stops at planning ('a concurrent process
    deleted it'), and skip cannot help."""
    link = raw_copy / "benign" / "moved away.png"
    os.symlink(raw_copy / "nowhere.png", link)
    assert "build_manifest" in planned_jobs(run(workdir, "-n").stdout)
    failed = run(workdir, "--cores", "1", check=False)
    log = (workdir / "results/logs/build_manifest.log").read_text()
    assert failed.returncode != 0 and str(link) in log and "broken link" in log
    run(workdir, "--cores", "1", on_bad_image="skip")
    assert str(link) in (workdir / "results/qc/rejected.csv").read_text()


def test_a_new_folder_after_a_finished_run_reruns_the_layout_checks(workdir, raw_copy):
    """Today: 'Nothing to be done', and the images under the new folder are silently unused."""
    run(workdir, "--cores", "1")
    nothing = run(workdir, "-n")
    assert "Nothing to be done" in nothing.stdout + nothing.stderr
    (raw_copy / "Malignant").mkdir()
    shutil.copy(next((raw_copy / "malignant").glob("*.png")), raw_copy / "Malignant" / "new.png")
    assert "build_manifest" in planned_jobs(run(workdir, "-n").stdout)
    failed = run(workdir, "--cores", "1", check=False)
    assert failed.returncode != 0
    assert "unknown folder 'Malignant'" in (workdir / "results/logs/build_manifest.log").read_text()
    shutil.rmtree(raw_copy / "Malignant")
    (raw_copy / "benign" / "more").mkdir()
    shutil.copy(next((raw_copy / "benign").glob("*.png")), raw_copy / "benign" / "more" / "new.png")
    assert "build_manifest" in planned_jobs(run(workdir, "-n").stdout)
