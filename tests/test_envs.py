"""The conda env files parse and pin exactly what pyproject.toml pins (they must never drift)."""

import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(dep.split("==") for dep in deps)


def env_pins(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    return dict(line.split("==") for line in pip if "==" in line)


@pytest.mark.parametrize("env_file", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_pins_agree_with_pyproject(env_file):
    expected = pyproject_pins()
    pins = env_pins(env_file)
    assert pins, f"{env_file.name} pins nothing"
    for package, version in pins.items():
        assert expected.get(package) == version, f"{env_file.name}: {package}=={version}, pyproject says {expected.get(package)}"
    assert "python=3.11" in yaml.safe_load(env_file.read_text())["dependencies"]


def test_every_rule_env_file_exists():
    referenced = set()
    for smk in (REPO / "rules").glob("*.smk"):
        referenced |= {line.split('"')[1] for line in smk.read_text().splitlines() if line.strip().startswith('"../envs/')}
    assert referenced == {"../envs/data.yaml", "../envs/train.yaml"}
    assert all((REPO / "rules" / ref).resolve().is_file() for ref in referenced)


def test_train_env_has_the_deep_learning_stack_and_data_env_does_not():
    train = env_pins(REPO / "envs" / "train.yaml")
    data = env_pins(REPO / "envs" / "data.yaml")
    assert {"tensorflow", "keras"} <= set(train)
    assert not {"tensorflow", "keras"} & set(data)
