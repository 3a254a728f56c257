"""Mixed precision and jit (XLA) for the Keras jobs: resolve the config's 'auto', set the policy.

The config keys ``training.precision`` and ``training.jit_compile`` reach every Keras job as
``acceleration={"precision": ..., "jit_compile": ...}``. A job calls ``apply_acceleration`` once,
after busflow.runtime.start.start_job has chosen the backend and before it builds or loads any model
(the dtype policy is global and is read when a layer is created; ``keras.backend.clear_session``
resets it to float32). Models loaded from a .keras file keep the policy they were saved with.

Backend libraries are imported only inside the detection functions, so importing this module
costs nothing and the same code runs on TensorFlow, JAX and PyTorch.
"""

import importlib
import warnings

import keras

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
# bfloat16 tensor cores arrived with Ampere; older NVIDIA GPUs only emulate bfloat16 (slowly).
BF16_MIN_CUDA_CAPABILITY = (8, 0)


def _capability(value) -> tuple[int, ...]:
    """'9.0', (9, 0) or 9.0 -> (9, 0)."""
    if isinstance(value, str):
        return tuple(int(part) for part in value.split(".")[:2])
    if isinstance(value, float):
        return _capability(str(value))
    return tuple(int(part) for part in value)


def _jax_has_bf16_accelerator() -> bool:
    jax = importlib.import_module("jax")
    for device in jax.devices():
        if device.platform == "tpu":
            return True
        capability = getattr(device, "compute_capability", None)
        if device.platform in ("gpu", "cuda") and capability:
            return _capability(capability) >= BF16_MIN_CUDA_CAPABILITY
    return False


def _torch_has_bf16_accelerator() -> bool:
    torch = importlib.import_module("torch")
    if not torch.cuda.is_available():
        return False
    try:  # torch >= 2.3 counts emulated bfloat16 as supported unless told not to
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:
        return bool(torch.cuda.is_bf16_supported())


def _tensorflow_has_bf16_accelerator() -> bool:
    tensorflow = importlib.import_module("tensorflow")
    if tensorflow.config.list_physical_devices("TPU"):
        return True
    for gpu in tensorflow.config.list_physical_devices("GPU"):
        capability = tensorflow.config.experimental.get_device_details(gpu).get(
            "compute_capability"
        )
        if capability and _capability(capability) >= BF16_MIN_CUDA_CAPABILITY:
            return True
    return False


BF16_DETECTORS = {
    "jax": _jax_has_bf16_accelerator,
    "torch": _torch_has_bf16_accelerator,
    "tensorflow": _tensorflow_has_bf16_accelerator,
}


def has_bf16_accelerator(backend: str | None = None) -> bool:
    """True when the (active) Keras backend sees a TPU, or a GPU with native bfloat16 (CUDA >= 8.0).

    A CPU never counts, nor does a GPU whose bfloat16 support cannot be established (then float32,
    which is always correct, is the safe default).
    """
    detect = BF16_DETECTORS.get(backend or keras.backend.backend())
    return bool(detect and detect())


def resolve_precision(setting="auto", backend: str | None = None) -> str:
    """The Keras dtype policy name for ``training.precision``.

    'auto' is 'mixed_bfloat16' on a bfloat16-capable GPU/TPU of the active backend, else 'float32'
    (so mixed precision is off on a CPU); explicit values are returned as given.
    Raises ValueError for anything not in PRECISIONS.
    """
    value = "auto" if setting is None else setting
    if value not in PRECISIONS:
        raise ValueError(f"training.precision '{setting}' is not one of {', '.join(PRECISIONS)}")
    if value != "auto":
        return value
    return "mixed_bfloat16" if has_bf16_accelerator(backend) else "float32"


def _parse_jit(setting):
    if setting is None:
        return "auto"
    if isinstance(setting, bool):
        return setting
    if isinstance(setting, str) and setting.strip().lower() in ("auto", "true", "false"):
        return {"auto": "auto", "true": True, "false": False}[setting.strip().lower()]
    raise ValueError(f"training.jit_compile '{setting}' is not one of auto, true, false")


def resolve_jit(setting="auto", backend: str | None = None):
    """The value for ``model.compile(jit_compile=...)``: 'auto', True or False.

    'auto' per backend:
    - jax: 'auto', which Keras resolves to True: every train/predict step is one jax.jit (XLA)
      function. (False would run JAX op by op: correct but very slow.)
    - tensorflow: 'auto', which Keras resolves to XLA on a GPU/TPU and to no XLA on a CPU-only
      machine (and when TensorFlow's op determinism is enabled).
    - torch: False (eager), which is also what Keras' own 'auto' does there. Keras runs
      jit_compile=True on torch as torch.compile (inductor) of its train/predict step, a path
      it does not enable by default (graph breaks, recompiles, long first steps); an explicit
      True is passed through, with a warning.
    The strings 'true'/'false' (as a config may hold them) become booleans; anything else raises
    ValueError.
    """
    value = _parse_jit(setting)
    backend = backend or keras.backend.backend()
    if backend == "torch":
        if value is True:
            warnings.warn(
                "jit_compile=True on the torch backend means torch.compile of Keras' train step, "
                "which Keras does not enable by default; expect long first steps and recompiles",
                stacklevel=2,
            )
        return False if value == "auto" else value
    return value


def apply_acceleration(acceleration: dict | None = None) -> dict:
    """Resolve ``acceleration`` ({'precision', 'jit_compile'}, both default 'auto') and set the
    global Keras dtype policy to the resolved precision.

    Returns what to log and record (JSON-serialisable): backend, the two settings as given, the
    resolved precision (a dtype policy name) and the resolved jit_compile ('auto', True or False),
    to be passed to busflow.models.builders.compile_binary. Raises ValueError for unknown keys
    or values.
    """
    given = dict(acceleration or {})
    unknown = set(given) - {"precision", "jit_compile"}
    if unknown:
        raise ValueError(
            f"unknown acceleration setting(s) {sorted(unknown)}: use precision, jit_compile"
        )
    precision_setting = given.get("precision", "auto")
    jit_setting = given.get("jit_compile", "auto")
    backend = keras.backend.backend()
    precision = resolve_precision(precision_setting, backend)
    jit_compile = resolve_jit(jit_setting, backend)
    keras.mixed_precision.set_dtype_policy(precision)
    return {
        "backend": backend,
        "precision_setting": precision_setting,
        "precision": precision,
        "jit_compile_setting": jit_setting,
        "jit_compile": jit_compile,
    }


def set_predict_jit(model: keras.Model, jit_compile) -> keras.Model:
    """For a model that is only used to predict (never compiled here): apply an explicit
    jit_compile; 'auto' leaves Keras' own choice (the rules of resolve_jit)."""
    if jit_compile != "auto":
        model.jit_compile = jit_compile
    return model


def model_precision(model: keras.Model) -> str:
    """The policy a (loaded) model was trained under: its layers
    keep it, whatever the global one."""
    from busflow.models.builders import all_layers

    names = {layer.dtype_policy.name for layer in all_layers(model) if layer.weights}
    mixed = sorted(name for name in names if name.startswith("mixed"))
    return mixed[0] if mixed else "float32"
