"""The container images of `--sdm conda apptainer` runs (docs/containers.md): their recipes are
what `snakemake --containerize` writes for the current env files, and every rule that runs code
names its image. The images themselves cannot be built here (no container runtime, no registry):
these check what can be checked without them."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from busflow.runtime.backends import (
    CONTAINERS,
    VERSION,
    container_image,
    data_container_image,
)

REPO = Path(__file__).resolve().parents[1]
# `snakemake --containerize` asks conda for its version, settings and platform, and nothing else:
# conda cannot be installed here, so a stand-in answers (the recipe does not depend on them).
FAKE_CONDA = """#!/bin/sh
case "$*" in
  --version) echo "conda 24.11.0" ;;
  "config --get channel_priority --json") echo '{"get": {"channel_priority": "strict"}}' ;;
  *) echo '{"conda_prefix": "/opt/conda", "platform": "linux-64", "conda_version": "24.11.0"}' ;;
esac
"""
# Each recipe and the config it is written for.
RECIPES = {"Dockerfile": (), "Dockerfile.gpu": ("config/gpu.yaml",)}

RULE_IMAGES = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, ResourceSettings, StorageSettings
with SnakemakeApi() as api:
    workflow = api.workflow(
        snakefile=Path(sys.argv[1]) / "Snakefile",
        workdir=Path.cwd(),
        config_settings=ConfigSettings(configfiles=[Path(p) for p in sys.argv[2:]]),
        resource_settings=ResourceSettings(),
        storage_settings=StorageSettings(),
    )
    rules = workflow._workflow.rules
    print(json.dumps({
        rule.name: [rule.script is not None, rule.container_img or None, rule.is_containerized]
        for rule in rules
    }))
"""


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}


def containerize(tmp_path: Path, *configfiles: str) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "conda").write_text(FAKE_CONDA)
    (bin_dir / "conda").chmod(0o755)
    env = {**clean_env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    configs = [arg for path in configfiles for arg in ("--configfile", path)]
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--containerize", *configs],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_each_recipe_is_what_snakemake_containerize_writes_now(tmp_path, recipe):
    """An env file edited without rewriting the recipe would ship images whose env hash no
    longer matches: Snakemake would then build the env on the node, or fail offline."""
    configs = RECIPES[recipe]
    expected = containerize(tmp_path, *configs)
    flags = "".join(f" --configfile {path}" for path in configs)
    assert (REPO / recipe).read_text() == expected, (
        f"{recipe} is out of date with envs/*.yaml: rewrite it with "
        f"`snakemake --containerize{flags} > {recipe}` (or, without conda, "
        "`python tests/test_containers.py`) and rebuild its image"
    )


def rule_images(tmp_path: Path, *configfiles: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", RULE_IMAGES, str(REPO), *configfiles],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_rule_that_runs_code_names_its_prebuilt_image(tmp_path):
    cpu = rule_images(tmp_path)
    runs_code = {rule for rule, (script, _, _) in cpu.items() if script}
    assert runs_code == set(cpu) - {"all"}
    for rule in runs_code:
        assert cpu[rule][1:] == [CONTAINERS["cpu"]["tensorflow"], True], rule
    gpu = rule_images(tmp_path, str(REPO / "config" / "gpu.yaml"))
    assert {tuple(gpu[rule][1:]) for rule in runs_code} == {(CONTAINERS["gpu"]["jax"], True)}


def test_the_images_are_tagged_with_busflows_version():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert VERSION == project["version"]
    images = [image for by_backend in CONTAINERS.values() for image in by_backend.values()]
    assert all(image.startswith("docker://") and f":{VERSION}" in image for image in images)


def test_runs_without_an_image_keep_their_conda_env_and_the_rest_the_cpu_image(monkeypatch):
    """Backend torch and tensorflow on the GPU have no image: their Keras rules name none
    (Snakemake then builds the conda env), and the rules without Keras use the CPU image."""
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    for training in ({"backend": "torch"}, {"environment": "gpu", "backend": "tensorflow"}):
        assert container_image(training) is None
        assert data_container_image(training) == CONTAINERS["cpu"]["tensorflow"]
    gpu = {"environment": "gpu", "backend": "jax"}
    assert container_image(gpu) == data_container_image(gpu) == CONTAINERS["gpu"]["jax"]


if __name__ == "__main__":
    # Rewrite both recipes where conda is not installed (the stand-in answers for it).
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        for name, configs in RECIPES.items():
            (REPO / name).write_text(containerize(Path(scratch), *configs))
