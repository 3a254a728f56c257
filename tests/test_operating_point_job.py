"""The operating point is chosen on validation images only: test labels cannot move it."""

import json

import numpy as np
import pandas as pd
import pytest

from workflow_helpers import snakemake, write_config

pytestmark = pytest.mark.workflow
EVALUATION = {
    "bootstrap": 20,
    "seed": 1,
    "batch_size": 64,
    "calibration_bins": 10,
    "recalibration": "platt",
    "operating_point": {"rule": "youden", "threshold": 0.5, "target_sensitivity": 0.9},
}


@pytest.fixture(scope="module")
def two_fold_pool(tmp_path_factory):
    """split.csv and the pool shard of a 2-fold run on 2 x 24 tiny demo
    images, plus an untrained model."""
    import keras

    from busflow.models import builders as models

    workdir = tmp_path_factory.mktemp("pool")
    config = write_config(
        workdir / "cv.yaml",
        {
            "demo": {"n_per_class": 24, "size": 64},
            "data": {"image_size": 32},
            "augment": {"factor": 2, "shards": 1},
            "evaluation": {"folds": 2},
        },
    )
    snakemake(
        workdir, "--cores", "2", "results/split.csv", "results/shards/pool/0.npz", configfile=config
    )
    keras.utils.set_random_seed(0)
    model = models.build_baseline(32, 0.5)
    model.save(workdir / "untrained.keras")
    return workdir


def choose(workdir, shard, name) -> dict:
    from busflow.augment.samples import fold_selection
    from busflow.jobs.evaluation import choose_operating_point_job

    config = {
        "evaluation": {"folds": 2, "leave_one_site_out": False},
        "data": {"raw": "unused"},
        "split": {"protocol": "leak_free", "seed": 42},
        "augment": {"keep_original": True},
    }
    selection = fold_selection(config, str(workdir / "results/split.csv"), 0)
    out = workdir / f"{name}.json"
    choose_operating_point_job(
        str(workdir / "untrained.keras"), [str(shard)], EVALUATION, out, selection=selection
    )
    return json.loads(out.read_text())


def with_labels_flipped(workdir, role: str, name: str):
    """A copy of the pool shard whose fold-0 ``role`` images have the other label."""
    split = pd.read_csv(workdir / "results/split.csv")
    ids = split.loc[(split["fold"] == 0) & (split["split"] == role), "image_id"]
    with np.load(workdir / "results/shards/pool/0.npz") as shard:
        arrays = dict(shard)
    flip = np.isin(arrays["image_ids"], ids)
    assert flip.any()
    arrays["labels"] = np.where(flip, 1 - arrays["labels"], arrays["labels"])
    path = workdir / f"{name}.npz"
    np.savez(path, **arrays)
    return path


def test_flipping_test_labels_changes_nothing_and_flipping_validation_labels_does(two_fold_pool):
    original = choose(two_fold_pool, two_fold_pool / "results/shards/pool/0.npz", "original")
    test_flipped = choose(
        two_fold_pool, with_labels_flipped(two_fold_pool, "test", "test_flipped"), "test_flipped"
    )
    val_flipped = choose(
        two_fold_pool, with_labels_flipped(two_fold_pool, "val", "val_flipped"), "val_flipped"
    )

    assert original["operating_point"]["chosen_on"] == "validation"
    assert original["recalibration"]["method"] == "platt"
    assert test_flipped == original
    assert val_flipped["recalibration"] != original["recalibration"]
    assert val_flipped["validation_calibration"] != original["validation_calibration"]
