"""Mixed precision and jit: 'auto' follows the device, the policy
is global, outputs stay float32."""

import re
import types
from pathlib import Path

import keras
import numpy as np
import pytest

from busflow.models import builders as models
from busflow.runtime import acceleration

PACKAGE = Path(__file__).resolve().parents[1] / "busflow"


@pytest.fixture(autouse=True)
def float32_policy_afterwards():
    """apply_acceleration changes a global: put float32 back so other tests are unaffected."""
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def only_cpus_visible() -> bool:
    try:
        devices = keras.distribution.list_devices()
    except (AttributeError, NotImplementedError):  # the torch backend has no distribution API
        pytest.skip("this Keras backend cannot list its devices")
    return all(device.lower().startswith("cpu") for device in devices)


def fake_module(monkeypatch, name: str, module) -> None:
    real = acceleration.importlib.import_module
    monkeypatch.setattr(
        acceleration.importlib, "import_module", lambda n: module if n == name else real(n)
    )


def toy_batch(n=8, size=24):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, 1), dtype=np.uint8), (np.arange(n) % 2).astype(
        np.int8
    )


# --------------------------------------------------------------------------- precision


def test_auto_precision_is_float32_on_a_machine_without_accelerator():
    if not only_cpus_visible():
        pytest.skip("an accelerator is visible")
    assert not acceleration.has_bf16_accelerator()
    assert acceleration.resolve_precision("auto") == "float32"
    assert acceleration.resolve_precision(None) == "float32"


@pytest.mark.parametrize("has_bf16, expected", [(True, "mixed_bfloat16"), (False, "float32")])
def test_auto_precision_follows_the_backends_bf16_detection(monkeypatch, has_bf16, expected):
    monkeypatch.setitem(acceleration.BF16_DETECTORS, "jax", lambda: has_bf16)
    assert acceleration.resolve_precision("auto", backend="jax") == expected


@pytest.mark.parametrize("setting", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_explicit_precision_passes_through(monkeypatch, setting):
    monkeypatch.setitem(acceleration.BF16_DETECTORS, "tensorflow", lambda: pytest.fail("auto only"))
    assert acceleration.resolve_precision(setting, backend="tensorflow") == setting


@pytest.mark.parametrize("setting", ["bfloat16", "fp16", "Mixed_BFloat16", True, ""])
def test_unknown_precision_is_refused_with_the_allowed_values(setting):
    with pytest.raises(ValueError, match="auto, float32, mixed_bfloat16, mixed_float16"):
        acceleration.resolve_precision(setting)


@pytest.mark.parametrize(
    "devices, expected",
    [
        ([types.SimpleNamespace(platform="cpu")], False),
        ([types.SimpleNamespace(platform="gpu", compute_capability="9.0")], True),
        ([types.SimpleNamespace(platform="gpu", compute_capability="8.0")], True),
        ([types.SimpleNamespace(platform="gpu", compute_capability="7.5")], False),
        (
            [types.SimpleNamespace(platform="gpu")],
            False,
        ),  # unknown capability: float32 is the safe side
        ([types.SimpleNamespace(platform="tpu")], True),
    ],
)
def test_jax_detection_needs_a_tpu_or_an_ampere_or_newer_gpu(monkeypatch, devices, expected):
    fake_module(monkeypatch, "jax", types.SimpleNamespace(devices=lambda: devices))
    assert acceleration.has_bf16_accelerator("jax") is expected


@pytest.mark.parametrize(
    "available, native, expected", [(False, True, False), (True, False, False), (True, True, True)]
)
def test_torch_detection_asks_cuda_for_native_bf16(monkeypatch, available, native, expected):
    asked = {}

    def is_bf16_supported(including_emulation=True):
        asked["including_emulation"] = including_emulation
        return native or including_emulation

    cuda = types.SimpleNamespace(
        is_available=lambda: available, is_bf16_supported=is_bf16_supported
    )
    fake_module(monkeypatch, "torch", types.SimpleNamespace(cuda=cuda))
    assert acceleration.has_bf16_accelerator("torch") is expected
    if available:
        assert asked == {"including_emulation": False}


@pytest.mark.parametrize(
    "gpus, tpus, expected",
    [
        ([], [], False),
        ([(9, 0)], [], True),
        ([(7, 0)], [], False),
        ([(7, 0), (8, 6)], [], True),
        ([], ["tpu:0"], True),
    ],
)
def test_tensorflow_detection_reads_the_gpus_compute_capability(monkeypatch, gpus, tpus, expected):
    config = types.SimpleNamespace(
        list_physical_devices=lambda kind: {"GPU": gpus, "TPU": tpus}[kind],
        experimental=types.SimpleNamespace(
            get_device_details=lambda gpu: {"compute_capability": gpu}
        ),
    )
    fake_module(monkeypatch, "tensorflow", types.SimpleNamespace(config=config))
    assert acceleration.has_bf16_accelerator("tensorflow") is expected


# --------------------------------------------------------------------------- jit


@pytest.mark.parametrize(
    "setting, expected",
    [
        ("auto", "auto"),
        (None, "auto"),
        (True, True),
        (False, False),
        ("true", True),
        ("false", False),
        ("False", False),
    ],
)
def test_jit_settings_for_tensorflow_and_jax(setting, expected):
    for backend in ("tensorflow", "jax"):
        assert acceleration.resolve_jit(setting, backend=backend) == expected


def test_auto_jit_is_eager_on_torch_and_an_explicit_true_warns():
    assert acceleration.resolve_jit("auto", backend="torch") is False
    assert acceleration.resolve_jit("false", backend="torch") is False
    with pytest.warns(UserWarning, match="torch.compile"):
        assert acceleration.resolve_jit(True, backend="torch") is True


@pytest.mark.parametrize("setting", ["yes", "xla", 1, ""])
def test_unknown_jit_setting_is_refused(setting):
    with pytest.raises(ValueError, match="auto, true, false"):
        acceleration.resolve_jit(setting)


# --------------------------------------------------------------------------- apply


def test_apply_sets_the_global_policy_and_reports_what_it_resolved():
    resolved = acceleration.apply_acceleration(
        {"precision": "mixed_bfloat16", "jit_compile": "false"}
    )
    assert keras.mixed_precision.dtype_policy().name == "mixed_bfloat16"
    assert keras.layers.Dense(1).compute_dtype == "bfloat16"
    assert resolved == {
        "backend": keras.backend.backend(),
        "precision_setting": "mixed_bfloat16",
        "precision": "mixed_bfloat16",
        "jit_compile_setting": "false",
        "jit_compile": False,
    }
    acceleration.apply_acceleration({"precision": "float32"})
    assert keras.mixed_precision.dtype_policy().name == "float32"
    assert keras.layers.Dense(1).compute_dtype == "float32"


def test_apply_defaults_to_auto_for_both_settings(monkeypatch):
    monkeypatch.setitem(acceleration.BF16_DETECTORS, keras.backend.backend(), lambda: False)
    resolved = acceleration.apply_acceleration(None)
    assert (resolved["precision_setting"], resolved["precision"]) == ("auto", "float32")
    assert resolved["jit_compile_setting"] == "auto"
    assert keras.mixed_precision.dtype_policy().name == "float32"


def test_apply_refuses_unknown_keys_and_leaves_the_policy_alone():
    with pytest.raises(ValueError, match="precison"):
        acceleration.apply_acceleration({"precison": "mixed_bfloat16"})
    with pytest.raises(ValueError):
        acceleration.apply_acceleration({"precision": "bfloat16"})
    assert keras.mixed_precision.dtype_policy().name == "float32"


# --------------------------------------------------------------------------- training


def test_model_built_under_mixed_bfloat16_trains_a_step_and_outputs_float32():
    acceleration.apply_acceleration({"precision": "mixed_bfloat16"})
    keras.utils.set_random_seed(0)
    model = models.compile_binary(
        models.build_baseline(24), keras.optimizers.RMSprop(1e-3), jit_compile=False
    )
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert (
        conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
    )  # float32 master weights
    assert model.outputs[0].dtype == "float32"
    before = conv.kernel.numpy().copy()
    x, y = toy_batch()
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    assert np.isfinite(loss)
    assert not np.array_equal(before, conv.kernel.numpy())
    probabilities = model.predict(x, verbose=0)
    assert probabilities.dtype == np.float32 and ((probabilities >= 0) & (probabilities <= 1)).all()


def test_mixed_float16_gets_loss_scaling_and_outputs_float32():
    acceleration.apply_acceleration({"precision": "mixed_float16"})
    model = models.compile_binary(
        models.build_baseline(24), keras.optimizers.RMSprop(1e-3), jit_compile=False
    )
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x, y = toy_batch()
    assert np.isfinite(model.train_on_batch(x, y, return_dict=True)["loss"])
    assert model.predict(x, verbose=0).dtype == np.float32


@pytest.mark.parametrize("jit_compile", [False, "auto"])
def test_compile_binary_passes_jit_compile_and_the_model_trains(jit_compile):
    keras.utils.set_random_seed(0)
    model = models.compile_binary(
        models.build_baseline(24), keras.optimizers.RMSprop(1e-3), jit_compile=jit_compile
    )
    x, y = toy_batch()
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    if jit_compile is False:
        assert model.jit_compile is False
    else:  # Keras' own choice: XLA on JAX, none on torch or on TensorFlow without an accelerator
        assert model.jit_compile in (True, False)


def test_set_predict_jit_applies_only_an_explicit_setting():
    model = models.build_baseline(24)
    auto = model.jit_compile
    assert acceleration.set_predict_jit(model, "auto").jit_compile == auto
    assert acceleration.set_predict_jit(model, False).jit_compile is False


@pytest.mark.parametrize(
    "module", ["runtime/acceleration.py", "models/builders.py", "models/training.py"]
)
def test_no_backend_specific_code(module):
    """Backend libraries only through importlib inside the detection functions: no tf.* calls."""
    source = (PACKAGE / module).read_text()
    assert not re.search(r"^\s*(import|from)\s+(tensorflow|jax|torch)\b", source, re.MULTILINE)
    assert not re.search(r"\btf\.[A-Za-z_]", source)
