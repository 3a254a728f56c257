"""train_finetune_job: block5 from the transfer head, or
(head_epochs) from a briefly retrained one."""

import keras
import numpy as np
import pandas as pd
import pytest

from busflow.config.sections import FitSettings
from busflow.jobs import training as model_jobs
from busflow.jobs.training import _compiled_head, train_finetune_job, warm_up_head
from busflow.models import builders as models
from busflow.models import training
from busflow.models.registry import model_spec
from busflow.models.training import train_epochs

SIZE = 32
HEAD = {
    "epochs": 4,
    "batch_size": 8,
    "learning_rate": 0.001,
    "optimizer": "rmsprop",
    "dropout": 0.5,
    "seed": 2,
}
FINETUNE = {"epochs": 1, "batch_size": 8, "learning_rate": 0.0001, "momentum": 0.9, "seed": 3}


@pytest.fixture(scope="module")
def feature_files(vgg16_weights_file, tmp_path_factory):
    """Train/val feature files as extract_vgg16_features_job writes them (block4 float16,
    bottleneck float32) and a saved transfer model, all from the test weights file; labels follow a
    bright/dark pixel pattern."""
    folder = tmp_path_factory.mktemp("finetune")
    base = models.build_vgg16_base(SIZE, vgg16_weights_file)
    extractor = models.build_feature_extractor(base, SIZE, ("block4", "bottleneck"))
    rng = np.random.default_rng(0)
    for name, n in (("train", 24), ("val", 8)):
        labels = np.arange(n) % 2
        pixels = rng.integers(0, 128, (n, SIZE, SIZE, 1), dtype=np.uint8) + (labels * 100)[
            :, None, None, None
        ].astype(np.uint8)
        out = extractor.predict(pixels, verbose=0)
        np.savez(
            folder / f"{name}.npz",
            block4=out["block4"].astype(np.float16),
            bottleneck=out["bottleneck"],
            labels=labels,
            image_ids=np.asarray([f"{name}{i}" for i in range(n)]),
            copy_index=np.zeros(n, int),
            protocol="leak_free",
        )
    keras.utils.set_random_seed(0)
    head = models.build_head(base.output.shape[1:])
    models.assemble_classifier(base, head, SIZE, "transfer").save(folder / "transfer.keras")
    return folder


def bottleneck_of(folder, name="train"):
    with np.load(folder / f"{name}.npz") as f:
        return f["bottleneck"], f["labels"]


def test_warm_up_gives_the_head_a_fresh_head_trained_that_many_epochs(feature_files):
    features = bottleneck_of(feature_files)
    keras.utils.set_random_seed(6)  # not the fresh head's seed: training it further must not pass
    transfer_head = models.build_head(features[0].shape[1:])
    before = [w.copy() for w in transfer_head.get_weights()]
    keras.utils.set_random_seed(5)
    warm_up_head(transfer_head, features, 2, FitSettings.of(HEAD), jit_compile=False)
    keras.utils.set_random_seed(5)
    expected = _compiled_head(features[0], FitSettings.of(HEAD), jit_compile=False)
    train_epochs(expected, features, 2, HEAD["batch_size"], HEAD["seed"])
    after = transfer_head.get_weights()
    assert all(np.array_equal(a, e) for a, e in zip(after, expected.get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(after, before))


def test_head_epochs_without_the_transfer_settings_is_refused(feature_files, tmp_path):
    out = {
        "model": tmp_path / "f.keras",
        "history": tmp_path / "h.csv",
        "checkpoint": tmp_path / "ckpt",
    }
    with pytest.raises(ValueError, match="start_settings"):
        train_finetune_job(
            model_spec("finetune"),
            inputs_of(feature_files),
            {"settings": {**FINETUNE, "head_epochs": 1}},
            out,
        )
    assert not out["model"].exists()


def inputs_of(feature_files):
    return {
        "train": feature_files / "train.npz",
        "val": feature_files / "val.npz",
        "start": feature_files / "transfer.keras",
    }


def run_finetune(feature_files, folder, settings):
    out = {
        "model": folder / "finetune.keras",
        "history": folder / "history.csv",
        "checkpoint": folder / "ckpt",
    }
    train_finetune_job(
        model_spec("finetune"),
        inputs_of(feature_files),
        {"settings": settings, "start_settings": HEAD},
        out,
    )
    return keras.models.load_model(out["model"]), pd.read_csv(out["history"])


def test_finetune_from_a_warmed_up_head_differs_from_the_transfer_head_and_is_deterministic(
    feature_files, tmp_path
):
    plain, _ = run_finetune(feature_files, tmp_path / "plain", FINETUNE)
    warm, history = run_finetune(feature_files, tmp_path / "warm", {**FINETUNE, "head_epochs": 2})
    again, _ = run_finetune(feature_files, tmp_path / "again", {**FINETUNE, "head_epochs": 2})
    # Weights, not predictions: on these toy features the sigmoid saturates for many inputs.
    w_plain, w_warm, w_again = (
        m.get_layer(models.HEAD_NAME).get_weights() for m in (plain, warm, again)
    )
    assert len(history) == FINETUNE["epochs"]
    assert not all(np.allclose(a, b, atol=1e-4) for a, b in zip(w_plain, w_warm))
    assert all(np.array_equal(a, b) for a, b in zip(w_warm, w_again))


class Killed(Exception):
    """Stands for a kill right after a checkpoint was committed."""


def test_killed_finetune_resumes_from_its_checkpoint_without_a_second_warm_up(
    feature_files, tmp_path, monkeypatch
):
    settings = {**FINETUNE, "epochs": 2, "head_epochs": 2}
    _, uninterrupted = run_finetune(feature_files, tmp_path / "whole", settings)
    save = training.Checkpoint.save

    def save_then_die(self, *args, **kwargs):
        save(self, *args, **kwargs)
        raise Killed

    monkeypatch.setattr(training.Checkpoint, "save", save_then_die)
    with pytest.raises(Killed):
        run_finetune(feature_files, tmp_path / "killed", settings)
    monkeypatch.undo()
    warm_ups = []
    monkeypatch.setattr(model_jobs, "warm_up_head", lambda *args, **kwargs: warm_ups.append(args))
    _, resumed = run_finetune(feature_files, tmp_path / "killed", settings)
    assert warm_ups == []  # the checkpoint holds the warmed-up head already
    pd.testing.assert_frame_equal(resumed, uninterrupted)
