"""Running the real workflow in a scratch directory from tests."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


# The tiny demo (80 images, 64 px, a few epochs) that several test files share through the tiny_run
# fixture (tests/conftest.py): the backends' end-to-end runs, the predict/export and report tests,
# and the SLURM tests, whose runs must equal the local one. The baseline's 20 epochs leave time
# to kill its SLURM job between two of them.
TINY_DEMO = {
    "data": {"image_size": 64},
    "demo": {"n_per_class": 40, "size": 64},
    "augment": {"factor": 2, "shards": 1},
    "training": {
        "baseline": {"epochs": 20},
        "transfer": {"epochs": 15},
        "finetune": {"epochs": 2},
        "finetune45": {"epochs": 2},
    },
    "evaluation": {"bootstrap": 50},
    # ONNX costs each export job seconds a model: only tiny_run (tests/conftest.py) writes it.
    "export": {"onnx": False},
}


def tiny_demo_config(backend: str = "tensorflow") -> dict:
    """The tiny demo's config overlay, training on ``backend``."""
    return {**TINY_DEMO, "training": {**TINY_DEMO["training"], "backend": backend}}


def write_config(path: Path, overrides: dict) -> Path:
    path.write_text(yaml.safe_dump(overrides))
    return path


def snakemake(
    workdir: Path,
    *args: str,
    configfile: Path | None = None,
    timeout: int = 1200,
    check: bool = True,
    env: dict | None = None,
):
    """Run ``snakemake`` on the repo's Snakefile in ``workdir``; returns the CompletedProcess.
    ``env``: the environment of the run (default: this process's)."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        *args,
    ]
    if configfile:
        command += ["--configfile", str(configfile)]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=workdir, env=env
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        )
    return result


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: rule -> count."""
    lines = dry_run_output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats")) + 3
    jobs = {}
    for line in lines[start:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


def python_on_backend(code: str, backend: str, timeout: int = 300) -> str:
    """Run ``code`` in a fresh Python on Keras ``backend``; returns the last line it printed
    (empty when it printed none)."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return (result.stdout.strip().splitlines() or [""])[-1]
