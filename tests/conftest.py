"""Shared fixtures: small generated data, configs and a VGG16 weights file of the real layout."""

import copy
import os
import re
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def demo_config() -> dict:
    """config/config.yaml as a dict (what the demo runs with)."""
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.fixture
def cfg(demo_config) -> dict:
    """A mutable copy of the demo config, with small sizes for unit tests."""
    config = copy.deepcopy(demo_config)
    config["data"]["image_size"] = 32
    config["augment"]["factor"] = 3
    return config


@pytest.fixture(scope="session")
def demo_raw(tmp_path_factory) -> Path:
    """A raw folder of generated demo PNGs (12 per class, 64 px); do not modify it."""
    from busflow.data.demo import generate_demo_dataset

    raw = tmp_path_factory.mktemp("raw") / "data"
    generate_demo_dataset(raw, n_per_class=12, size=64, seed=5)
    return raw


@pytest.fixture
def raw_copy(demo_raw, tmp_path) -> Path:
    """A private copy of the demo raw folder that a test may change."""
    import shutil

    target = tmp_path / "raw"
    shutil.copytree(demo_raw, target)
    return target


@pytest.fixture(scope="session")
def vgg16_weights_file(tmp_path_factory) -> Path:
    """A VGG16 notop weights file in Keras' HDF5 layout with random values, written here."""
    from busflow.models.weights import write_random_vgg16_notop_h5

    return write_random_vgg16_notop_h5(
        tmp_path_factory.mktemp("weights") / "vgg16_notop.h5", seed=3
    )


def tiny_targets(backend: str) -> list[str]:
    """TensorFlow's tiny run goes to the end; the other backends' stop at the comparison table and
    the exports (their Score-CAM, figures and model card run no other backend code: CI time).
    tests/test_scorecam.py runs Score-CAM on every backend."""
    if backend == "tensorflow":
        return []
    from busflow.models.registry import model_names

    exports = [f"results/export/{model}" for model in model_names()]
    return ["results/comparison.csv", "results/comparison.md", *exports]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """tiny_run(backend) -> the folder of the tiny demo run on that backend (tiny_targets); run on
    first use, then shared by every test that asks (a couple of minutes each). Tests may add
    outputs to it, never change what is there."""
    from workflow_helpers import snakemake, tiny_demo_config, write_config

    runs = {}

    def run(backend: str = "tensorflow") -> Path:
        if backend not in runs:
            workdir = tmp_path_factory.mktemp(f"tiny_{backend}")
            # the one run whose ONNX exports the tests read (where the backend writes them)
            config = {**tiny_demo_config(backend), "export": {"onnx": True}}
            overlay = write_config(workdir / "tiny.yaml", config)
            # KERAS_BACKEND in the environment wins over training.backend (a site's choice), and
            # this file sets it: the jobs must not inherit it here.
            env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
            snakemake(
                workdir,
                "--cores",
                "2",
                *tiny_targets(backend),
                configfile=overlay,
                timeout=1500,
                env=env,
            )
            runs[backend] = workdir
        return runs[backend]

    return run


def files_sharing_the_tiny_runs(root: Path) -> set[str]:
    """The test files (as node ids spell them) with a test or fixture that asks for tiny_run."""
    return {
        path.relative_to(root).as_posix()
        for path in (root / "tests").rglob("test_*.py")
        if re.search(r"^def \w+\([^)]*\btiny_run\b", path.read_text(), re.MULTILINE)
    }


def pytest_xdist_make_scheduler(config, log):
    """`make test` runs two pytest-xdist workers. Each test file goes to one worker whole (its
    module fixtures run once), and every file that uses the shared tiny runs, the SLURM tests
    among them (one local cluster), to the same worker: a session fixture runs once per worker.
    (xdist's own --dist loadgroup cannot do it under pytest 9, whose node ids it no longer sets.)"""
    from xdist.scheduler import LoadScopeScheduling

    shared = files_sharing_the_tiny_runs(config.rootpath)

    class SharedRunScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tiny runs" if path in shared else path

    return SharedRunScheduling(config, log)
