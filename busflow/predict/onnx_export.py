"""An exported model as ONNX (``model.export(format="onnx")``), for clinics that deploy with ONNX
Runtime: written where the backend's exporter is installed (busflow's ``onnx`` extra), checked
against the Keras model with ONNX Runtime, and model.json says what was written or why not.

Import this only after the Keras backend is chosen.
"""

import importlib.util
from pathlib import Path

import keras
import numpy as np

ONNX_FILE = "model.onnx"
# What Keras 3.15's model.export(format="onnx") imports on each backend. The onnx extra
# (pyproject.toml) installs the TensorFlow and torch exporters; jax2onnx is left out because it
# brings flax, orbax, tensorstore and a hub client with it.
ONNX_EXPORTERS = {
    "tensorflow": ("tf2onnx", "onnx"),
    "torch": ("onnx", "onnxscript"),
    "jax": ("jax2onnx", "onnx"),
}
# Largest difference allowed between ONNX Runtime's and Keras' probability on the same pixels.
MAX_ONNX_DIFFERENCE = 1e-5


def missing_exporter(backend: str) -> list[str]:
    """The modules ``model.export(format="onnx")`` needs on ``backend`` that are not installed."""
    return [name for name in ONNX_EXPORTERS[backend] if importlib.util.find_spec(name) is None]


def onnx_export(model, folder: Path, wanted: bool) -> dict:
    """model.json's ``onnx`` and ``onnx_note``: ``model.onnx`` where ``wanted`` (export.onnx) and
    the backend's exporter is installed, else None and why. ``model`` must have been called."""
    backend = keras.backend.backend()
    if not wanted:
        return {"onnx": None, "onnx_note": "not exported: export.onnx is false"}
    missing = missing_exporter(backend)
    if missing:
        return {"onnx": None, "onnx_note": not_installed_note(backend, missing)}
    if backend == "tensorflow":
        constant_standardisation(model)
    try:
        model.export(str(folder / ONNX_FILE), format="onnx", verbose=False)
    except Exception as error:  # an optional extra: the SavedModel and model.keras still stand
        (folder / ONNX_FILE).unlink(missing_ok=True)
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return {
            "onnx": None,
            "onnx_note": f"not exported: Keras' ONNX export on {backend} failed: {first_line}",
        }
    size = int(model.inputs[0].shape[1])
    difference = runtime_difference(model, folder / ONNX_FILE, size)
    if difference is not None and difference > MAX_ONNX_DIFFERENCE:
        (folder / ONNX_FILE).unlink()
        return {
            "onnx": None,
            "onnx_note": f"not exported: ONNX Runtime's probabilities differed from Keras' by "
            f"{difference:.2e} on the same pixels (allowed {MAX_ONNX_DIFFERENCE:g}); please "
            "report it with this model.json",
        }
    checked = (
        "not checked (onnxruntime is not installed)"
        if difference is None
        else f"ONNX Runtime gives the Keras model's probabilities to {difference:.1e}"
    )
    return {
        "onnx": ONNX_FILE,
        "onnx_note": f"input 'pixels': uint8, shape (batch, {size}, {size}, 1) -> probability, "
        f"shape (batch, 1), before the recalibration in model.json; written on {backend}; "
        f"{checked}",
    }


def not_installed_note(backend: str, missing: list[str]) -> str:
    if backend == "jax":
        return (
            "not exported: Keras exports ONNX on JAX through jax2onnx, which busflow's onnx extra "
            "does not install; pip install jax2onnx, or load model.keras with "
            "KERAS_BACKEND=tensorflow and call model.export(path, format='onnx')"
        )
    return (
        f"not exported: the ONNX exporter of the {backend} backend ({', '.join(missing)}) is not "
        "installed where this ran; install busflow's onnx extra (pip install -e '.[onnx]')"
    )


def constant_standardisation(model) -> None:
    """On TensorFlow, tf2onnx turns every tensor a traced function captures into an extra graph
    input: the head's Normalization keeps its mean and variance as such tensors. As numpy arrays
    they are traced as constants instead, with the same values. The layers are shared with the
    model that was saved, so call this after saving it."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization) and layer.input_mean is not None:
            layer.mean = keras.ops.convert_to_numpy(layer.mean)
            layer.variance = keras.ops.convert_to_numpy(layer.variance)
        elif hasattr(layer, "layers"):  # a nested model (the head)
            constant_standardisation(layer)


def runtime_difference(model, onnx_file: Path, size: int) -> float | None:
    """The largest difference between ONNX Runtime's and Keras' probabilities on a few random
    images (None where onnxruntime is not installed)."""
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    pixels = np.random.default_rng(0).integers(0, 256, (4, size, size, 1), "uint8")
    served = run_onnx(onnx_file, pixels)
    return float(np.max(np.abs(served - model.predict(pixels, verbose=0))))


def run_onnx(onnx_file, pixels: np.ndarray) -> np.ndarray:
    """ONNX Runtime's output of ``onnx_file`` on a batch of uint8 pixels, on the CPU."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: pixels})[0]


def onnx_readme(record: dict) -> str:
    """The export README's paragraph on model.onnx (empty when none was written)."""
    exports = record.get("exports") or {}
    if not exports.get("onnx"):
        return ""
    return f"""
`{exports["onnx"]}` is the same model for ONNX Runtime ({exports["onnx_note"]}). To use it,
replace the first recipe's `model = ...` and `raw = ...` lines by:

```python
import onnxruntime
session = onnxruntime.InferenceSession("{exports["onnx"]}")
raw = float(session.run(None, {{"pixels": np.asarray(grey, np.uint8)[None, :, :, None]}})[0][0, 0])
```
"""
