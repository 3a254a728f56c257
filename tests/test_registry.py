"""The registry's derived facts: the feature a fine-tuned block reads, and the training job's run
settings, each written once."""

import pytest

from busflow.models.features import FEATURES, feature_below
from busflow.models.registry import (
    TRAINING_RUN_KEYS,
    ModelSpec,
    Trainer,
    model_spec,
    training_run,
)
from busflow.runtime.doctor import load_config


def test_a_model_that_trains_a_block_must_read_the_feature_below_it():
    assert feature_below((5,)) == "block4" and feature_below((4, 5)) == "block3"
    with pytest.raises(ValueError, match="reads 'block3'"):
        ModelSpec(
            "finetune_wrong",
            "blocks 4 and 5 on block4 features",
            reads=("block4", "bottleneck"),
            pretrained=True,
            trainer=Trainer.FINETUNE,
            starts_from="transfer",
            trained_blocks=(4, 5),
        )
    assert set(FEATURES) >= set(model_spec("finetune45").reads)


def test_the_training_run_holds_what_the_train_script_reads():
    config = load_config([])
    run = training_run(config, model_spec("finetune"), "weights.h5", {"fold": 0})
    assert tuple(run) == TRAINING_RUN_KEYS
    assert run["settings"] == config["training"]["finetune"]
    assert run["start_settings"] == config["training"]["transfer"]
    assert run["weights_file"] == "weights.h5"
    assert run["acceleration"] == {
        key: config["training"][key] for key in ("precision", "jit_compile")
    }
    baseline = training_run(config, model_spec("baseline"), "weights.h5", None)
    assert baseline["weights_file"] is None and baseline["start_settings"] is None


def test_every_trainer_has_a_job_function():
    from busflow.jobs.training import TRAINERS

    assert set(TRAINERS) == set(Trainer)
