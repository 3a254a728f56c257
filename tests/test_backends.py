"""The Keras backends: names, install messages, the conda env of the Keras rules, and what made
the VGG16 models predict a constant on JAX (a backend-dependent random base; a head whose ReLUs
all died), each guarded here."""

import json
import os
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from busflow.errors import CollapsedModelError, ConfigError
from busflow.models import builders as models
from busflow.models import training
from busflow.runtime import backends
from busflow.runtime.start import select_backend

from workflow_helpers import python_on_backend

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_an_unknown_backend_is_a_config_error_naming_the_choices():
    with pytest.raises(ConfigError, match="training.backend 'mxnet' .* tensorflow, jax, torch"):
        backends.chosen_backend("mxnet", environ={})
    with pytest.raises(ConfigError, match="KERAS_BACKEND 'theano'"):
        backends.chosen_backend("jax", environ={"KERAS_BACKEND": "theano"})
    assert backends.chosen_backend("jax", environ={"KERAS_BACKEND": "torch"}) == "torch"
    assert backends.chosen_backend(None, environ={}) == "tensorflow"


def test_every_per_backend_table_names_the_same_backends():
    from busflow.config.sections import schema_node
    from busflow.runtime.acceleration import BF16_DETECTORS
    from busflow.runtime.devices import ACCELERATOR_LISTERS

    tables = [
        backends.CPU_INSTALL,
        backends.GPU_EXTRAS,
        backends.CUDA_BUILDS,
        *backends.CONDA_ENVS.values(),
        ACCELERATOR_LISTERS,
        BF16_DETECTORS,
    ]
    assert all(sorted(table) == sorted(backends.BACKENDS) for table in tables)
    assert schema_node("training")["properties"]["backend"]["enum"] == list(backends.BACKENDS)


def test_only_chosen_backend_reads_keras_backend():
    """The precedence (KERAS_BACKEND, then training.backend, then the default) is written once."""
    readers = [
        path.relative_to(REPO).as_posix()
        for folder in ("busflow", "scripts", "bench")
        for path in Path(REPO, folder).rglob("*.py")
        if re.search(r"(\.get|setdefault|getenv)\(\s*\"KERAS_BACKEND\"", path.read_text())
    ]
    assert readers == ["busflow/runtime/backends.py"]


def test_a_backend_that_is_not_installed_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(backends.BACKEND_PACKAGES, "jax", "jax_not_installed_here")
    with pytest.raises(ConfigError) as error:
        backends.require_installed("jax")
    assert "pip install -e '.[jax]'" in str(error.value)
    assert "pip install -e '.[gpu]'" in str(error.value)


def test_a_keras_job_with_a_missing_backend_stops_before_importing_keras(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setitem(backends.BACKEND_PACKAGES, "torch", "torch_not_installed_here")
    with pytest.raises(ConfigError, match=r"\.\[torch\]"):
        select_backend("torch", keras_job=True)
    select_backend("tensorflow", keras_job=True)  # installed: no error


@pytest.mark.parametrize(
    "training, env",
    [
        ({"backend": "tensorflow"}, "../envs/train.yaml"),
        ({"backend": "jax", "environment": "cpu"}, "../envs/train.yaml"),
        ({"backend": "torch"}, "../envs/train-torch.yaml"),
        ({"backend": "jax", "environment": "gpu"}, "../envs/train-gpu.yaml"),
        ({"backend": "tensorflow", "environment": "gpu"}, "../envs/train-gpu-tf.yaml"),
    ],
)
def test_the_keras_rules_env_follows_environment_and_backend(training, env, monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert backends.conda_env(training) == env
    assert os.path.isfile(os.path.join(REPO, "rules", env))


RANDOM_BASE_FEATURES = """
import os, sys, json
sys.path.insert(0, {repo!r})
import numpy as np
from busflow.models import builders as models
base = models.build_vgg16_base(32)
kernel = base.get_layer("block5_conv3").kernel
print(json.dumps(np.asarray(kernel)[0, 0, :3, :3].tolist()))
"""


def test_the_random_vgg16_base_is_the_same_on_every_backend():
    """Keras' seeded initialisers draw other numbers per backend; the base is drawn with numpy."""
    kernels = {}
    for backend in backends.BACKENDS:
        printed = python_on_backend(RANDOM_BASE_FEATURES.format(repo=REPO), backend)
        kernels[backend] = np.array(json.loads(printed))
    assert np.abs(kernels["tensorflow"]).max() > 0
    for backend in backends.BACKENDS:
        np.testing.assert_array_equal(kernels[backend], kernels["tensorflow"])


def test_the_head_standardises_features_with_their_training_mean_and_one_scale():
    rng = np.random.default_rng(0)
    features = np.abs(rng.normal(size=(50, 2, 2, 4))).astype("float32") * [1, 2, 3, 1e-6]
    mean, variance = models.feature_channel_stats(features)
    np.testing.assert_allclose(mean, features.reshape(-1, 4).mean(axis=0), rtol=1e-5)
    # One shared scale: the nearly constant last channel is not blown up by its own tiny spread.
    assert np.all(variance == variance[0])
    head = models.build_head(features.shape[1:], stats=(mean, variance))
    standardise = head.get_layer(models.STANDARDISATION_NAME)
    standardised = np.asarray(standardise(features)).reshape(-1, 4)
    np.testing.assert_allclose(standardised.mean(axis=0), 0, atol=1e-4)
    assert np.abs(standardised[:, 3]).max() < 1e-3


def constant_data(n=40):
    x = np.zeros((n, 4, 4, 8), "float32")
    return x, (np.arange(n) % 2).astype("float32")


def head_plan(tmp_path, min_std, name="head"):
    return training.TrainingPlan(
        2, 10, 1, tmp_path / "ckpt", "fp", model_name=name, min_val_std=min_std
    )


def build_head():
    keras.utils.set_random_seed(1)
    return models.compile_binary(models.build_head((4, 4, 8)), models.make_optimizer("adam", 1e-3))


def test_a_model_that_predicts_one_constant_fails_naming_model_backend_and_fix(tmp_path):
    x, y = constant_data()  # every input equal: every prediction equal
    with pytest.raises(CollapsedModelError) as error:
        training.train_resumable(
            build_head, (x, y), (x, y), head_plan(tmp_path, 1e-3, "transfer"), log=lambda m: None
        )
    message = str(error.value)
    assert message.startswith("transfer: the trained model (epoch 2 of 2) predicts one constant")
    assert f"on the {keras.backend.backend()} backend" in message
    assert "training.transfer.seed" in message and "min_val_prediction_std: 0" in message
    # Nothing computed is lost: the checkpoint of the last epoch stays.
    assert (tmp_path / "ckpt" / "state.json").is_file()


def build_nan_head():
    """A head whose output layer holds NaN weights, as a diverged run leaves it."""
    head = build_head()
    last = head.layers[-1]
    last.kernel.assign(np.full(last.kernel.shape, np.nan, "float32"))
    return head


def test_nan_predictions_fail_too(tmp_path):
    x, y = constant_data()
    x = x + np.random.default_rng(0).random(x.shape).astype("float32")
    with pytest.raises(CollapsedModelError, match="NaN or infinite"):
        training.train_resumable(
            build_nan_head, (x, y), (x, y), head_plan(tmp_path, 1e-3), log=lambda m: None
        )


def test_the_check_can_be_turned_off(tmp_path):
    x, y = constant_data()
    model, history = training.train_resumable(
        build_head, (x, y), (x, y), head_plan(tmp_path, 0.0), log=lambda m: None
    )
    assert len(history) == 2


FEATURES_OF = """
import sys
sys.path.insert(0, {repo!r})
import numpy as np
from busflow.models import builders as models
images = np.random.default_rng(4).integers(0, 256, (6, 32, 32, 1)).astype("uint8")
extractor = models.build_feature_extractor(
    models.build_vgg16_base(32, {weights!r}), 32, ("block4", "bottleneck")
)
features = extractor.predict(images, verbose=0)
np.savez({out!r}, **features)
"""
# float32 convolutions summed in another order: agreement to 1e-4 of the features' scale.
FEATURE_TOLERANCE = 1e-4


def test_feature_extraction_agrees_between_backends(vgg16_weights_file, tmp_path):
    """The same images and weights file give the same VGG16 features on every backend."""
    features = {}
    for backend in backends.BACKENDS:
        out = tmp_path / f"{backend}.npz"
        code = FEATURES_OF.format(repo=REPO, weights=str(vgg16_weights_file), out=str(out))
        python_on_backend(code, backend)
        features[backend] = dict(np.load(out))
    for key, reference in features["tensorflow"].items():
        scale = np.abs(reference).max()
        assert scale > 0
        for backend in backends.BACKENDS:
            gap = np.abs(features[backend][key] - reference).max() / scale
            assert gap <= FEATURE_TOLERANCE, (backend, key, gap)
