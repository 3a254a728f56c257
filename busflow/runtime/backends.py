"""The Keras backends busflow runs on: one place for their names, the package that provides each,
the install extra that brings it, and the conda env file of its rules.

Every backend listed here is run end to end on the demo DAG in CI (tests/test_backends_workflow.py):
a backend that is named but not exercised is how a GPU configuration came to train constant
models unnoticed.
"""

import importlib.util
import os

from busflow.config.sections import schema_node
from busflow.errors import ConfigError

# The backends, each with its importable package (and its distribution name for version lookups).
# Every table below, the schema's training.backend enum and the device and bf16 probes name
# exactly these (tests/test_backends.py).
BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
BACKENDS = tuple(BACKEND_PACKAGES)
DEFAULT_BACKEND = schema_node("training")["properties"]["backend"]["default"]
# pip extras of busflow: the CPU one (`test` brings every backend for CI), then the GPU builds.
CPU_INSTALL = {
    "tensorflow": "pip install -e .",
    "jax": "pip install -e '.[jax]'",
    "torch": "pip install -e '.[torch]'",
}
GPU_EXTRAS = {"tensorflow": "gpu-tf", "jax": "gpu", "torch": "torch"}
# The wheels that make each backend see an NVIDIA GPU (the gpu and gpu-tf extras).
CUDA_BUILDS = {
    "tensorflow": ("nvidia-cudnn-cu12",),
    "jax": ("jax-cuda12-plugin", "jax-cuda13-plugin"),
    "torch": ("nvidia-cudnn-cu12",),
}
# training.environment -> backend -> the conda env of every rule that runs Keras.
CONDA_ENVS = {
    "cpu": {
        "tensorflow": "../envs/train.yaml",
        "jax": "../envs/train.yaml",
        "torch": "../envs/train-torch.yaml",
    },
    "gpu": {
        "tensorflow": "../envs/train-gpu-tf.yaml",
        "jax": "../envs/train-gpu.yaml",
        "torch": "../envs/train-torch.yaml",
    },
}


def chosen_backend(
    configured: str | None = None, environ=None, setting: str = "training.backend"
) -> str:
    """KERAS_BACKEND from the environment if set (a GPU site's choice), else the config's, else
    tensorflow. Raises ConfigError for a name that is not a backend, naming where it came from:
    KERAS_BACKEND, or ``setting`` (the config key, or a command line's flag)."""
    environ = os.environ if environ is None else environ
    chosen = environ.get("KERAS_BACKEND") or configured or DEFAULT_BACKEND
    if chosen not in BACKENDS:
        source = "KERAS_BACKEND" if environ.get("KERAS_BACKEND") else setting
        raise ConfigError(
            f"{source} '{chosen}' is not a Keras backend busflow runs on: use one of "
            f"{', '.join(BACKENDS)}"
        )
    return chosen


def require_installed(backend: str, setting: str = "training.backend") -> None:
    """Raise ConfigError naming the install when ``backend``'s package cannot be imported here;
    ``setting`` (the config key, or a command line's flag) is where another can be chosen."""
    if importlib.util.find_spec(BACKEND_PACKAGES[backend]) is None:
        raise ConfigError(
            f"{setting} '{backend}' is not installed in this Python "
            f"({BACKEND_PACKAGES[backend]} not found). On the CPU: {CPU_INSTALL[backend]}; on a "
            f"GPU cluster: pip install -e '.[{GPU_EXTRAS[backend]}]'. Or set {setting} to an "
            "installed backend."
        )


def conda_env(training: dict) -> str:
    """The conda env file (relative to rules/) of the Keras rules: training.environment (cpu,
    gpu) and the backend select it, so --software-deployment-method conda on a GPU cluster builds
    the GPU env the backend needs."""
    environment = training.get("environment", "cpu")
    return CONDA_ENVS[environment][chosen_backend(training.get("backend"))]


# The images of `--sdm conda apptainer` runs (docs/containers.md): Dockerfile (the demo's CPU
# config) and Dockerfile.gpu (config/gpu.yaml), both written by `snakemake --containerize`, build
# every rule's conda env into the image, so a node runs no conda solve and downloads no package.
# Tagged with busflow's version (tests/test_containers.py checks it is pyproject.toml's).
IMAGE = "docker://ghcr.io/busflow/busflow"
VERSION = "0.1.0"
CONTAINERS = {
    "cpu": {"tensorflow": f"{IMAGE}:{VERSION}", "jax": f"{IMAGE}:{VERSION}"},
    "gpu": {"jax": f"{IMAGE}:{VERSION}-gpu"},
}


def container_image(training: dict) -> str | None:
    """The image holding the conda env of the Keras rules (``conda_env``) for training.environment
    and the backend; None where no image is built (backend torch, or tensorflow on the GPU):
    those rules build their conda env as without a container."""
    environment = training.get("environment", "cpu")
    return CONTAINERS[environment].get(chosen_backend(training.get("backend")))


def data_container_image(training: dict) -> str:
    """The image of the rules without Keras (envs/data.yaml, which every image holds): the Keras
    rules' image where there is one, so that a run pulls one image; else the CPU image."""
    return container_image(training) or CONTAINERS["cpu"]["tensorflow"]
