"""Training: the same seed gives the same model; a killed run resumes to the same end."""

import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from busflow.models import builders as models
from busflow.models import training
from busflow.store import NpzWriter, Rows, open_npz


def toy_data(n=120, size=24, seed=0):
    """Bright-left vs bright-right images: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.int8)
    x = rng.integers(0, 120, (n, size, size), dtype=np.uint8)
    x[y == 1, :, : size // 2] += 100
    x[y == 0, :, size // 2 :] += 100
    return x, y


def build():
    return models.compile_binary(models.build_baseline(24), models.make_optimizer("rmsprop", 1e-3))


def train(tmp_path, name, epochs=4, fingerprint="fp"):
    x, y = toy_data()
    plan = training.TrainingPlan(epochs, 20, 5, tmp_path / name, fingerprint)
    return training.train_resumable(
        build, (x, y), (x[:40], y[:40]), plan, add_channel=True, log=lambda m: None
    )


def test_same_seed_gives_the_same_history_and_predictions(tmp_path):
    model_a, history_a = train(tmp_path, "a")
    model_b, history_b = train(tmp_path, "b")
    assert history_a.equals(history_b)
    x, _ = toy_data(20, seed=9)
    assert np.array_equal(
        model_a.predict(x[..., None], verbose=0), model_b.predict(x[..., None], verbose=0)
    )


KILL_AFTER_EPOCH_2 = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_training import toy_data, build
    from busflow.models import training
    x, y = toy_data()
    plan = training.TrainingPlan(4, 20, 5, {folder!r}, "fp")
    def log(message):
        print(message, flush=True)
        if message.startswith("epoch 2/"):
            os.kill(os.getpid(), signal.SIGKILL)
    training.train_resumable(build, (x, y), (x[:40], y[:40]), plan, add_channel=True, log=log)
    """
)


def test_killed_training_resumes_to_the_same_model(tmp_path):
    _, uninterrupted = train(tmp_path, "whole")
    folder = tmp_path / "killed"
    script = KILL_AFTER_EPOCH_2.format(tests=os.path.dirname(__file__), folder=str(folder))
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    assert "epoch 2/4" in run.stdout and "epoch 3/4" not in run.stdout
    messages = []
    x, y = toy_data()
    plan = training.TrainingPlan(4, 20, 5, folder, "fp")
    _, resumed = training.train_resumable(
        build, (x, y), (x[:40], y[:40]), plan, add_channel=True, log=messages.append
    )
    assert messages[0] == "resuming from checkpoint after epoch 2 of 4"
    assert resumed.equals(uninterrupted)


def test_checkpoint_from_other_inputs_is_not_resumed(tmp_path):
    train(tmp_path, "c", epochs=2, fingerprint="old inputs")
    messages = []
    x, y = toy_data()
    plan = training.TrainingPlan(3, 20, 5, tmp_path / "c", "new inputs")
    _, history = training.train_resumable(
        build, (x, y), (x[:40], y[:40]), plan, add_channel=True, log=messages.append
    )
    assert not any("resuming" in m for m in messages)
    assert len(history) == 3


def test_fingerprint_changes_with_settings_and_inputs(tmp_path):
    data = tmp_path / "shard.npz"
    data.write_bytes(b"1")
    first = training.fingerprint({"epochs": 3}, [data])
    assert first == training.fingerprint({"epochs": 3}, [data])
    assert first != training.fingerprint({"epochs": 4}, [data])
    data.write_bytes(b"22")
    assert first != training.fingerprint({"epochs": 3}, [data])


def test_epoch_lines_have_no_control_characters():
    line = training.format_epoch(
        {"epoch": 1, **{k: 0.5 for k in training.HISTORY_METRICS}}, 10, 1.0
    )
    assert line.startswith("epoch 1/10 loss=0.5000")
    assert all(ch.isprintable() for ch in line)


def test_a_model_that_learns_separates_the_toy_classes(tmp_path):
    model, history = train(tmp_path, "learn", epochs=6)
    assert history["val_loss"].iloc[-1] < history["val_loss"].iloc[0]
    assert history["val_auc"].iloc[-1] >= 0.9


def conv_dtype(model) -> str:
    return next(
        layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    ).compute_dtype


@pytest.fixture
def mixed_bfloat16():
    """Train under mixed_bfloat16; float32 again afterwards, so other tests are unaffected."""
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def test_checkpoint_made_under_another_precision_is_not_resumed(tmp_path, mixed_bfloat16):
    train(tmp_path, "p", epochs=2)
    keras.mixed_precision.set_dtype_policy("float32")
    messages = []
    x, y = toy_data()
    plan = training.TrainingPlan(3, 20, 5, tmp_path / "p", "fp")
    model, history = training.train_resumable(
        build, (x, y), (x[:40], y[:40]), plan, add_channel=True, log=messages.append
    )
    assert not any("resuming" in m for m in messages)
    assert len(history) == 3 and conv_dtype(model) == "float32"


def test_mixed_bfloat16_run_resumes_to_the_same_history(tmp_path, mixed_bfloat16):
    _, uninterrupted = train(tmp_path, "whole", epochs=3)
    train(tmp_path, "stopped", epochs=1)
    messages = []
    x, y = toy_data()
    plan = training.TrainingPlan(3, 20, 5, tmp_path / "stopped", "fp")
    model, resumed = training.train_resumable(
        build, (x, y), (x[:40], y[:40]), plan, add_channel=True, log=messages.append
    )
    assert messages[0] == "resuming from checkpoint after epoch 1 of 3"
    assert conv_dtype(model) == "bfloat16"
    assert resumed.equals(uninterrupted)


def test_best_epoch_picks_the_lowest_loss_or_highest_auc():
    history = [
        {"val_loss": 0.9, "val_auc": 0.7},
        {"val_loss": 0.4, "val_auc": 0.8},
        {"val_loss": 0.6, "val_auc": 0.95},
    ]
    assert training.best_epoch(history, "last") == 3
    assert training.best_epoch(history, "best_val_loss") == 2
    assert training.best_epoch(history, "best_val_auc") == 3
    history.append({"val_loss": float("nan"), "val_auc": float("nan")})
    assert training.best_epoch(history, "best_val_loss") == 2


def test_unknown_keep_epoch_is_refused():
    with pytest.raises(ValueError, match="keep_epoch 'best' is not one of last, best_val_loss"):
        training.TrainingPlan(3, 20, 5, "x", "fp", "best")


def noisy_val_data():
    """Train on the toy task, validate on labels that are half wrong: val loss rises once the
    model is confident, so the best-val-loss epoch is an early one."""
    x, y = toy_data()
    x_val, y_val = toy_data(40, seed=3)
    y_val = y_val.copy()
    y_val[::2] = 1 - y_val[::2]
    return (x, y), (x_val, y_val)


def train_keeping(tmp_path, name, keep_epoch, epochs=6, log=lambda m: None):
    train_xy, val_xy = noisy_val_data()
    plan = training.TrainingPlan(epochs, 20, 5, tmp_path / name, "fp", keep_epoch)
    return training.train_resumable(build, train_xy, val_xy, plan, add_channel=True, log=log)


def test_keep_best_val_loss_returns_that_epochs_weights(tmp_path):
    messages = []
    kept_model, history = train_keeping(tmp_path, "best", "best_val_loss", log=messages.append)
    best = int(history["val_loss"].idxmin()) + 1
    assert best < len(history), "the toy validation should peak before the last epoch"
    assert history["kept"].tolist() == [epoch == best for epoch in history["epoch"]]
    assert messages[-1] == f"keeping epoch {best} of {len(history)} (best_val_loss)"
    # The same seed trained for exactly `best` epochs is the kept model.
    reference, _ = train_keeping(tmp_path, "short", "last", epochs=best)
    x_val = noisy_val_data()[1][0][..., None]
    assert np.array_equal(kept_model.predict(x_val, verbose=0), reference.predict(x_val, verbose=0))
    last_model, _ = train_keeping(tmp_path, "last", "last")
    assert not np.array_equal(
        kept_model.predict(x_val, verbose=0), last_model.predict(x_val, verbose=0)
    )


def test_resumed_run_keeps_the_same_best_epoch(tmp_path):
    whole_model, whole = train_keeping(tmp_path, "whole", "best_val_loss")
    train_keeping(tmp_path, "stopped", "best_val_loss", epochs=4)
    # The 4-epoch run finished; pretend it was a 6-epoch run killed after its 4th epoch.
    folder = tmp_path / "stopped"
    messages = []
    model, resumed = train_keeping(tmp_path, "stopped", "best_val_loss", log=messages.append)
    assert messages[0] == "resuming from checkpoint after epoch 4 of 6"
    assert resumed.equals(whole)
    x_val = noisy_val_data()[1][0][..., None]
    assert np.array_equal(model.predict(x_val, verbose=0), whole_model.predict(x_val, verbose=0))
    assert (folder / training.BEST_WEIGHTS).is_file()


def test_training_from_rows_on_disk_equals_training_from_arrays(tmp_path):
    """Samples read batch by batch from disk (busflow.store) give the model and history that the
    same samples in memory give, bit for bit: same seeded order, same batches."""
    x, y = toy_data()
    writer = NpzWriter(tmp_path / "x.npz", {"x": (x.shape, x.dtype)})
    writer.write("x", 0, x)
    writer.close()
    on_disk = open_npz(tmp_path / "x.npz", lazy_bytes=0)["x"]
    assert isinstance(on_disk, Rows)
    plan = training.TrainingPlan(3, 20, 5, tmp_path / "disk", "fp")
    model, history = training.train_resumable(
        build, (on_disk, y), (on_disk.subset(np.arange(40)), y[:40]), plan, True, lambda m: None
    )
    model_a, history_a = train(tmp_path, "memory", epochs=3)
    assert history.equals(history_a)
    for ours, theirs in zip(model.get_weights(), model_a.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
