"""Every Keras backend busflow names runs the demo DAG end to end here, on the CPU, and learns.

A GPU configuration (Keras on JAX) once trained VGG16 models that predicted one constant while only
TensorFlow ran in CI. So each backend of busflow.runtime.backends.BACKENDS runs the same tiny demo
(80 images, 64 px, a few epochs: a couple of minutes each) to the comparison table, and every model
must beat chance clearly on its test split and land near TensorFlow's AUC.
"""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from busflow.models.registry import model_names
from busflow.runtime.backends import BACKENDS

from workflow_helpers import REPO, write_config

pytestmark = pytest.mark.workflow

# On the tiny test split (about 12 images) an AUC moves in steps of about 0.03.
MIN_AUC = 0.75
MAX_AUC_GAP_TO_TENSORFLOW = 0.15


@pytest.fixture(scope="module")
def backend_runs(tiny_run) -> dict:
    """backend -> the run folder of the tiny demo on that backend (tests/conftest.py)."""
    return {backend: tiny_run(backend) for backend in BACKENDS}


def auc_of(run, model) -> float:
    metrics = json.loads((run / f"results/eval/{model}/metrics.json").read_text())
    return metrics["metrics"]["auc"]["value"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_model_learns_on_every_backend(backend_runs, backend):
    run = backend_runs[backend]
    aucs = {model: auc_of(run, model) for model in model_names()}
    assert all(auc >= MIN_AUC for auc in aucs.values()), (backend, aucs)
    table = pd.read_csv(run / "results/comparison.csv")
    assert len(table[table["source"].str.startswith("busflow")]) == len(model_names())


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "tensorflow"])
def test_every_backend_lands_near_tensorflow(backend_runs, backend):
    gaps = {
        model: abs(auc_of(backend_runs[backend], model) - auc_of(backend_runs["tensorflow"], model))
        for model in model_names()
    }
    assert max(gaps.values()) <= MAX_AUC_GAP_TO_TENSORFLOW, (backend, gaps)


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_backend_writes_onnx_where_keras_can_and_says_why_not_elsewhere(backend_runs, backend):
    """model.export(format="onnx") on TensorFlow (tf2onnx) and torch (onnxscript); ONNX Runtime
    gives the exported model.keras's probabilities. JAX's exporter is not in the onnx extra."""
    import keras
    import numpy as np
    import onnxruntime

    pixels = np.random.default_rng(2).integers(0, 256, (3, 64, 64, 1), dtype=np.uint8)
    for model in model_names():
        folder = backend_runs[backend] / "results/export" / model
        exports = json.loads((folder / "model.json").read_text())["exports"]
        if backend == "jax":
            assert exports["onnx"] is None and "jax2onnx" in exports["onnx_note"]
            continue
        assert exports["onnx"] == "model.onnx", exports["onnx_note"]
        session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
        served = session.run(None, {"pixels": pixels})[0]
        stock = keras.saving.load_model(folder / "model.keras").predict(pixels, verbose=0)
        np.testing.assert_allclose(served, stock, rtol=0, atol=1e-5, err_msg=model)


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_keras_job_says_its_backend(backend_runs, backend):
    logs = backend_runs[backend] / "results" / "logs"
    for model in model_names():
        first = (logs / f"train_{model}.log").read_text().splitlines()[0]
        assert first.startswith(f"device: {backend} "), first
    comparison = (backend_runs[backend] / "results/comparison.md").read_text()
    assert f": {backend} " in comparison


RULE_ENVS = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import (
    ConfigSettings, DeploymentMethod, DeploymentSettings, ResourceSettings, StorageSettings,
)
configfiles = [Path(p) for p in sys.argv[2:]]
with SnakemakeApi() as api:
    workflow = api.workflow(
        snakefile=Path(sys.argv[1]) / "Snakefile",
        workdir=Path.cwd(),
        config_settings=ConfigSettings(configfiles=configfiles),
        resource_settings=ResourceSettings(),
        storage_settings=StorageSettings(),
        deployment_settings=DeploymentSettings(deployment_method={DeploymentMethod.CONDA}),
    )
    # The rules as Snakemake parsed them for --software-deployment-method conda.
    print(json.dumps({rule.name: rule.conda_env for rule in workflow._workflow.rules}))
"""
KERAS_RULES = (
    "extract_vgg16_features",
    *(f"train_{model}" for model in model_names()),
    "choose_operating_point",
    "evaluate_model",
    "evaluate_external",
    "scorecam_examples",
    "export_models",
    "predict_images",
)


def rule_envs(tmp_path, *configfiles) -> dict:
    """Each rule's conda env under --software-deployment-method conda. conda itself cannot be
    installed here (and `snakemake -n --sdm conda` stops without it), so the rules are read as
    Snakemake's API parsed them."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    result = subprocess.run(
        [sys.executable, "-c", RULE_ENVS, str(REPO), *map(str, configfiles)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_gpu_overlay_gives_every_keras_rule_the_gpu_env_of_its_backend(tmp_path):
    config = REPO / "config"
    gpu = rule_envs(tmp_path, config / "config.yaml", config / "gpu.yaml")
    assert {gpu[rule] for rule in KERAS_RULES} == {"../envs/train-gpu.yaml"}
    assert gpu["build_manifest"] == gpu["compare_models"] == "../envs/data.yaml"
    tf_gpu = write_config(tmp_path / "tf.yaml", {"training": {"backend": "tensorflow"}})
    gpu_tf = rule_envs(tmp_path, config / "config.yaml", config / "gpu.yaml", tf_gpu)
    assert {gpu_tf[rule] for rule in KERAS_RULES} == {"../envs/train-gpu-tf.yaml"}
    cpu = rule_envs(tmp_path, config / "config.yaml")
    assert {cpu[rule] for rule in KERAS_RULES} == {"../envs/train.yaml"}
