"""busflow as a Snakemake module of another workflow (`module busflow: snakefile: ... config: ...`,
`use rule * from busflow as busflow_*`, prefix): from a folder, and from a git source with no
checkout on disk (as a github(...) source is)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workflow_helpers import REPO, TINY_DEMO, planned_jobs

# The smallest real run: one model (baseline, no VGG16 features), tiny images, one epoch.
TINY_MODULE = {
    "models": ["baseline"],
    "data": {"image_size": 32},
    "demo": {"n_per_class": 20, "size": 32},
    "augment": {"factor": 1, "shards": 1},
    "training": {"baseline": {"epochs": 1}},
    "evaluation": {"bootstrap": 10},
    "split": {"record": "busflow-run/split_record.csv"},
}

OUTER_SNAKEFILE = """\
configfile: "config/busflow.yaml"


module busflow:
    snakefile:
        {snakefile}
    config:
        config["busflow"]
    prefix:
        "busflow-run"


use rule * from busflow as busflow_*


rule all:
    default_target: True
    input:
        rules.busflow_all.input,
"""


def merged(base: dict, overlay: dict) -> dict:
    out = dict(base)
    for key, value in overlay.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = merged(base[key], value) if both else value
    return out


def outer_workflow(folder: Path, snakefile: str, *overlays: dict) -> Path:
    """An importing workflow in ``folder``: busflow from ``snakefile`` (a Python expression), its
    config the demo's with ``overlays`` merged over it, under the key busflow."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for overlay in overlays:
        config = merged(config, overlay)
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "busflow.yaml").write_text(yaml.safe_dump({"busflow": config}))
    (folder / "Snakefile").write_text(OUTER_SNAKEFILE.format(snakefile=snakefile))
    return folder


def outer_snakemake(folder: Path, *args: str, timeout: int = 900) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result.stdout


def listed_sources() -> set[str]:
    lines = (REPO / "rules" / "sources.txt").read_text().splitlines()
    return {line for line in lines if line and not line.startswith("#")}


def test_sources_list_every_file_the_package_needs():
    """A remote module fetches only what rules/sources.txt lists: a new module of the package
    missing from it would fail there, and only there."""
    needed = {
        *(p.relative_to(REPO).as_posix() for p in (REPO / "busflow").rglob("*.py")),
        *(p.relative_to(REPO).as_posix() for p in (REPO / "scripts").glob("*.py")),
        "config/reference_results.csv",
        "config/schema.yaml",
    }
    assert listed_sources() == needed, (
        "rules/sources.txt is out of date: list every file of busflow/ and scripts/ (and "
        f"the two config files). Missing: {sorted(needed - listed_sources())}; gone: "
        f"{sorted(listed_sources() - needed)}"
    )


@pytest.mark.workflow
def test_module_from_folder_plans_the_demo_and_runs_under_its_prefix(tmp_path):
    """From the checkout's Snakefile: the demo DAG plans as busflow_* rules, and a tiny run
    writes busflow's results under the prefix, its package and reference table found beside the
    module's Snakefile (not in the importing workflow's folder)."""
    snakefile = repr(str(REPO / "workflow" / "Snakefile"))
    demo = outer_workflow(tmp_path / "demo", snakefile, TINY_DEMO)
    jobs = planned_jobs(outer_snakemake(demo, "-n"))
    assert jobs["busflow_train_finetune45"] == 1 and jobs["busflow_compare_models"] == 1
    assert all(rule == "all" or rule.startswith("busflow_") for rule in jobs)

    tiny = outer_workflow(tmp_path / "tiny", snakefile, TINY_MODULE)
    outer_snakemake(tiny)
    results = tiny / "busflow-run" / "results"
    assert (results / "comparison.csv").is_file()
    assert (results / "export" / "baseline" / "model.json").is_file()
    assert not (tiny / "results").exists()
    # The config's paths are the user's, relative to the working directory: the prefix moves
    # what busflow writes, not where its data is.
    assert (tiny / "resources" / "demo_data" / "benign").is_dir()
    assert not list(results.glob("models/*.checkpoint"))
    # A second plan finds it done: the copied-in code and the user's paths are stable.
    assert "Nothing to be done" in outer_snakemake(tiny, "-n")


def seeded_github_cache(cache_home: Path) -> None:
    """A clone of this checkout, tagged v0, where Snakemake keeps its clones of github(...)
    sources: github("busflow/busflow", ..., tag="v0") then reads it offline, as it reads a real
    GitHub repository once cloned (from git's objects, with no checkout on disk)."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    work = cache_home / "work"
    for name in files:
        if (REPO / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, work / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(work)]
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "busflow"], check=True)
    subprocess.run([*git, "tag", "v0"], check=True)
    clones = cache_home / "snakemake" / "snakemake" / "source-cache" / "snakemake-git-cache"
    clones = clones / "github.com"
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(work), str(clones / "busflow" / "busflow")],
        check=True,
    )
    shutil.rmtree(work)


@pytest.mark.workflow
def test_module_from_github_source_without_a_checkout(tmp_path, monkeypatch):
    """From github(...): no busflow/ on disk, the package comes out of Snakemake's source cache
    into .snakemake/busflow-source/ and the plan's code inputs point there."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    seeded_github_cache(tmp_path / "cache")
    source = 'github("busflow/busflow", path="workflow/Snakefile", tag="v0")'
    outer = outer_workflow(tmp_path / "outer", source, TINY_DEMO)
    out = outer_snakemake(outer, "-n")
    jobs = planned_jobs(out)
    assert jobs["busflow_compare_models"] == 1 and jobs["busflow_train_finetune45"] == 1
    fetched = outer / ".snakemake" / "busflow-source"
    assert (fetched / "busflow" / "models" / "registry.py").is_file()
    assert (fetched / "config" / "reference_results.csv").is_file()
    assert f"{fetched}/busflow/data/demo.py" in out
