"""The conda env files parse, pin exactly what pyproject.toml pins (they must never drift), and
hold nothing that breaks when Snakemake copies them under .snakemake/conda/ (relative paths).
conda itself is not reachable here: the envs are never built by the tests."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from busflow.runtime.backends import CONDA_ENVS

REPO = Path(__file__).resolve().parents[1]
ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
# Which pyproject extra each env file stands for, besides the base dependencies.
EXTRA_OF_ENV = {
    "train.yaml": "jax",
    "train-torch.yaml": "torch",
    "train-gpu.yaml": "gpu",
    "train-gpu-tf.yaml": "gpu-tf",
}
# A GPU env replaces the base's CPU build of the framework with its extra's; the jax extra adds.
REPLACED_BY_EXTRA = {
    "jax": set(),
    "torch": {"tensorflow"},
    "gpu": {"tensorflow"},
    "gpu-tf": {"tensorflow"},
}


def pins(lines) -> dict[str, str]:
    return dict(line.split("==") for line in lines if "==" in line)


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def pyproject_pins(extra: str | None = None) -> dict[str, str]:
    project = pyproject()
    expected = pins(project["dependencies"])
    if extra:
        extra_pins = pins(project["optional-dependencies"][extra])
        for package in REPLACED_BY_EXTRA[extra]:
            expected.pop(package)
        expected.update(extra_pins)
    return expected


def pip_lines(path: Path) -> list[str]:
    env = yaml.safe_load(path.read_text())
    return next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))


def env_pins(path: Path) -> dict[str, str]:
    return pins(pip_lines(path))


def test_every_dependency_and_extra_is_pinned_exactly():
    project = pyproject()
    for dep in [
        *project["dependencies"],
        *(d for extra in project["optional-dependencies"].values() for d in extra),
    ]:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+(\[[a-z0-9-]+\])?==\d+(\.\d+)+", dep), (
            f"pyproject.toml: '{dep}' is not an exact pin"
        )


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_agree_with_pyproject(env_file):
    extra = EXTRA_OF_ENV.get(env_file.name)
    expected = pyproject_pins(extra)
    env = env_pins(env_file)
    assert env, f"{env_file.name} pins nothing"
    for package, version in env.items():
        assert expected.get(package) == version, (
            f"{env_file.name}: {package}=={version}, pyproject says {expected.get(package)}"
        )
    if extra:  # a GPU env is the whole extra: every pin of it
        assert set(pins(pyproject()["optional-dependencies"][extra])) <= set(env), (
            f"{env_file.name} misses part of the {extra} extra"
        )
    assert "python=3.11" in yaml.safe_load(env_file.read_text())["dependencies"]


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_files_hold_only_pinned_packages_no_paths(env_file):
    """Snakemake copies env files under .snakemake/conda/, so '-e ..'
    or any path would point nowhere."""
    for line in pip_lines(env_file):
        assert "==" in line and not line.startswith(("-", ".", "/", "file:")), (
            f"{env_file.name}: '{line}' is not a pinned package"
        )


def test_every_rule_env_file_exists():
    referenced = set()
    for smk in (REPO / "rules").glob("*.smk"):
        referenced |= {
            line.split('"')[1]
            for line in smk.read_text().splitlines()
            if line.strip().startswith('"../envs/')
        }
    # The Keras rules name KERAS_ENV (busflow.runtime.backends.conda_env), the others the data env.
    assert referenced == {"../envs/data.yaml"}
    referenced |= {env for envs in CONDA_ENVS.values() for env in envs.values()}
    assert all((REPO / "rules" / ref).resolve().is_file() for ref in referenced)
    assert {f"../envs/{path.name}" for path in ENV_FILES} == referenced


def test_train_env_has_the_deep_learning_stack_and_data_env_does_not():
    train = env_pins(REPO / "envs" / "train.yaml")
    data = env_pins(REPO / "envs" / "data.yaml")
    assert {"tensorflow", "keras"} <= set(train)
    assert not {"tensorflow", "keras"} & set(data)


def test_gpu_envs_bring_cuda_builds():
    assert "jax[cuda12]" in env_pins(REPO / "envs" / "train-gpu.yaml")
    assert "tensorflow[and-cuda]" in env_pins(REPO / "envs" / "train-gpu-tf.yaml")
    assert "tensorflow" not in env_pins(REPO / "envs" / "train-gpu.yaml")
