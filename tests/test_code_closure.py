"""Rules' code inputs are the import closure of their scripts, and
editing a module re-runs its rules."""

import re
import shutil
import subprocess
import sys
from modulefinder import ModuleFinder
from pathlib import Path

import pytest

from busflow.code_closure import code_closure

from workflow_helpers import REPO, planned_jobs, write_config

PACKAGE = REPO / "busflow"
SCRIPTS = sorted((REPO / "scripts").glob("*.py"))
# Its output is checked against a fixed md5, so no code edit can change it: no code inputs.
RULES_WITHOUT_CODE = {"fetch_vgg16_weights"}


def write_module(root: Path, dotted: str, source: str) -> None:
    path = root.joinpath(*dotted.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    for package in [p for p in path.parents if p != root and root in p.parents]:
        (package / "__init__.py").touch()
    path.write_text(source)


def test_closure_follows_imports_at_any_depth_inside_functions_and_through_cycles(tmp_path):
    write_module(tmp_path, "busflow.top", "from busflow.middle import f\n")
    write_module(
        tmp_path, "busflow.middle", "def f():\n    from busflow import deep\n    return deep\n"
    )
    write_module(tmp_path, "busflow.deep", "import numpy\nimport busflow.top  # a cycle\n")
    write_module(tmp_path, "busflow.unused", "")
    script = tmp_path / "script.py"
    script.write_text("import os\nfrom busflow.top import thing  # thing is no module\n")

    closure = code_closure(script, tmp_path / "busflow")

    assert [p.name for p in closure] == ["deep.py", "middle.py", "top.py"]


def test_closure_resolves_relative_imports_and_leaves_package_inits_out(tmp_path):
    write_module(tmp_path, "busflow.stage.entry", "from . import sibling\nfrom .sibling import f\n")
    write_module(tmp_path, "busflow.stage.sibling", "def f():\n    from ..shared import g\n")
    write_module(tmp_path, "busflow.shared", "from .other.deep import h  # a package below\n")
    write_module(tmp_path, "busflow.other.deep", "from ... import outside_the_package\n")
    write_module(tmp_path, "busflow.stage.unused", "")
    script = tmp_path / "script.py"
    script.write_text("from busflow.stage import entry\nfrom . import not_resolved_in_a_script\n")

    closure = code_closure(script, tmp_path / "busflow")

    relative = [p.relative_to(tmp_path / "busflow").as_posix() for p in closure]
    assert relative == ["other/deep.py", "shared.py", "stage/entry.py", "stage/sibling.py"]


def test_closure_agrees_with_pythons_own_bytecode_scan_of_each_script():
    """modulefinder reads the compiled scripts independently of our ast
    walk; busflow modules must agree."""
    for script in SCRIPTS:
        finder = ModuleFinder(path=[str(REPO)])
        finder.run_script(str(script))
        found = {
            Path(m.__file__)
            for name, m in finder.modules.items()
            if name.startswith("busflow.") and m.__file__
        }
        found = {
            path for path in found if path.name != "__init__.py"
        }  # no code: see the test below
        assert set(code_closure(script, PACKAGE)) == found, script.name


def rule_scripts() -> dict[str, str]:
    """rule name -> script file name, as the .smk files declare them."""
    scripts = {}
    for smk in (REPO / "rules").glob("*.smk"):
        for rule, body in re.findall(
            r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^(?:rule|checkpoint) |\Z)",
            smk.read_text(),
            re.S | re.M,
        ):
            match = re.search(r'script:\s*"\.\./scripts/([\w.]+)"', body)
            if match:
                scripts[rule] = match.group(1)
    return scripts


def planned_code_inputs(dry_run: str) -> dict[str, set[Path]]:
    """rule -> the busflow modules among its inputs, from a dry run's job listing."""
    inputs = {}
    for rule, listed in re.findall(
        r"^\s*(?:local)?(?:rule|checkpoint) (\w+):\n\s+input: (.*)$", dry_run, re.M
    ):
        inputs[rule] = {Path(p) for p in listed.split(", ") if f"{PACKAGE}/" in p}
    return inputs


@pytest.fixture(scope="module")
def every_rule_dry_run(tmp_path_factory, vgg16_weights_file, demo_raw):
    """A plan that holds every rule with a script (k-fold, an external set, a predict set, demo
    data)."""
    workdir = tmp_path_factory.mktemp("closure")
    overlay = write_config(
        workdir / "all_rules.yaml",
        {
            "evaluation": {"folds": 2},
            "vgg16_weights": str(vgg16_weights_file),
            "external": [{"name": "other_site", "path": str(demo_raw)}],
            "predict": [{"name": "clinic", "path": str(demo_raw)}],
        },
    )
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "-n",
        "--configfile",
        str(overlay),
    ]
    return subprocess.run(command, capture_output=True, text=True, check=True, cwd=workdir).stdout


def test_every_rule_declares_exactly_its_scripts_import_closure_as_code(every_rule_dry_run):
    declared = planned_code_inputs(every_rule_dry_run)
    scripts = rule_scripts()
    assert set(scripts) - RULES_WITHOUT_CODE <= set(declared), (
        "a rule with a script is missing from the plan"
    )
    for rule, script in scripts.items():
        expected = (
            set()
            if rule in RULES_WITHOUT_CODE
            else set(code_closure(REPO / "scripts" / script, PACKAGE))
        )
        assert declared.get(rule, set()) == expected, rule


# --- an edit deep in train_finetune's closure, seen by snakemake -n on a finished (touched) run ---

WORKFLOW_PARTS = (
    "Snakefile",
    "workflow",
    "rules",
    "scripts",
    "busflow",
    "config",
    "envs",
    "report",
    "profiles",
)


def run_snakemake(workflow: Path, workdir: Path, *args: str) -> str:
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(workflow / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "tiny.yaml"),
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, check=True, cwd=workdir).stdout


def finished_run_of_a_workflow_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the workflow and a run of it whose outputs all exist and are current, made without
    running a job: every output is created empty, then ``--touch`` records them as up to date."""
    workflow, workdir = tmp_path / "workflow", tmp_path / "run"
    workflow.mkdir()
    workdir.mkdir()
    for part in WORKFLOW_PARTS:
        if (REPO / part).is_dir():
            shutil.copytree(
                REPO / part, workflow / part, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(REPO / part, workflow / part)
    write_config(
        workdir / "tiny.yaml", {"demo": {"n_per_class": 10, "size": 32}, "data": {"image_size": 32}}
    )
    summary = run_snakemake(workflow, workdir, "--summary")
    for line in summary.splitlines()[1:]:
        output = workdir / line.split("\t")[0]
        output.parent.mkdir(parents=True, exist_ok=True)
        if output.suffix:
            output.touch()
        else:  # the only outputs without an extension are directory()s: the export folders
            output.mkdir(parents=True, exist_ok=True)
    run_snakemake(workflow, workdir, "--touch", "--cores", "1")
    assert "Nothing to be done" in run_snakemake(workflow, workdir, "-n")
    return workflow, workdir


def deep_module_of(script: str, outside_of: list[str]) -> Path:
    """A module the training rules reach only through another module,
    and the others' scripts do not."""
    script_path = REPO / "scripts" / script
    from busflow.code_closure import imported_modules, module_file

    direct = {module_file(PACKAGE, n) for n in imported_modules(script_path, PACKAGE)} - {None}
    excluded = set().union(*(code_closure(REPO / "scripts" / s, PACKAGE) for s in outside_of))
    candidates = sorted(set(code_closure(script_path, PACKAGE)) - direct - excluded)
    assert candidates, "train_model.py has no module of its own below its direct imports"
    return candidates[0].relative_to(PACKAGE)


def job_reasons(dry_run: str) -> dict[str, list[str]]:
    reasons = {}
    for rule, reason in re.findall(
        r"^\s*(?:local)?rule (\w+):\n(?:\s+\w.*\n)*?\s+reason: (.*)$", dry_run, re.M
    ):
        reasons.setdefault(rule, []).append(reason)
    return reasons


@pytest.mark.workflow
def test_editing_a_module_deep_in_train_finetunes_closure_replans_it_and_nothing_upstream(tmp_path):
    upstream = ["build_manifest.py", "split_images.py", "augment_shard.py", "generate_demo_data.py"]
    module = deep_module_of("train_model.py", upstream)
    workflow, workdir = finished_run_of_a_workflow_copy(tmp_path)
    edited = workflow / "busflow" / module
    edited.write_text(edited.read_text() + "\n# an edit\n")

    plan = run_snakemake(workflow, workdir, "-n")

    jobs = planned_jobs(plan)
    assert "train_finetune" in jobs, plan[-2000:]
    assert not {"build_manifest", "split_images", "augment_shard", "generate_demo_data"} & set(jobs)
    for rule, reasons in job_reasons(plan).items():
        for reason in reasons:
            assert str(edited) in reason or "updated by another job" in reason, (rule, reason)


def test_package_init_files_hold_no_code_so_the_closure_may_leave_them_out():
    import ast

    for init in PACKAGE.rglob("__init__.py"):
        for node in ast.parse(init.read_text()).body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            version = isinstance(node, ast.Assign) and [t.id for t in node.targets] == [
                "__version__"
            ]
            assert docstring or version, f"{init}: code in a package __init__ is not a rule input"


def test_no_library_module_imports_a_rule_entry_point():
    """busflow/jobs/ holds the rules' entry points; a library
    importing one would tie rules together."""
    from busflow.code_closure import imported_modules

    for module in PACKAGE.rglob("*.py"):
        if "jobs" not in module.relative_to(PACKAGE).parts:
            imported = imported_modules(module, PACKAGE)
            assert not {m for m in imported if m.startswith("busflow.jobs")}, module
