"""The fourth model, finetune45: VGG16 blocks 4 and 5 fine-tuned from cached block3 features."""

import keras
import numpy as np

from busflow.jobs.training import train_model_job
from busflow.models import builders as models
from busflow.models.features import feature_below
from busflow.models.registry import feature_keys, model_spec

SIZE = 32


def test_it_reads_block3_features_which_extraction_then_computes():
    spec = model_spec("finetune45")
    assert spec.trained_blocks == (4, 5) and spec.starts_from == "transfer"
    assert feature_below(spec.trained_blocks) == "block3" and "block3" in feature_keys()


def test_its_trainer_trains_blocks_4_and_5_only_and_equals_the_full_model(vgg16_weights_file):
    base = models.build_vgg16_base(SIZE, vgg16_weights_file)
    head = models.build_head(base.output.shape[1:], dropout=0.0)
    classifier = models.assemble_classifier(base, head, SIZE, "full")
    trainer = models.build_top_trainer(base, head, (4, 5))
    trainable = {w.path.split("/")[0] for w in trainer.trainable_weights}
    assert {"block4_conv1", "block4_conv3", "block5_conv3"} <= trainable
    assert not any(name.startswith(("block1", "block2", "block3")) for name in trainable)
    pixels = np.random.default_rng(1).integers(0, 256, (3, SIZE, SIZE, 1), dtype=np.uint8)
    block3 = models.build_feature_extractor(base, SIZE, ("block3",)).predict(pixels, verbose=0)[
        "block3"
    ]
    assert np.allclose(
        trainer.predict(block3, verbose=0), classifier.predict(pixels, verbose=0), atol=1e-5
    )


def test_its_job_changes_block4_and_keeps_block3(vgg16_weights_file, tmp_path):
    base = models.build_vgg16_base(SIZE, vgg16_weights_file)
    extractor = models.build_feature_extractor(base, SIZE, ("block3", "bottleneck"))
    rng = np.random.default_rng(0)
    for name, n in (("train", 16), ("val", 8)):
        labels = np.arange(n) % 2
        pixels = rng.integers(0, 128, (n, SIZE, SIZE, 1), dtype=np.uint8) + (labels * 100)[
            :, None, None, None
        ].astype(np.uint8)
        out = extractor.predict(pixels, verbose=0)
        np.savez(
            tmp_path / f"{name}.npz",
            block3=out["block3"].astype(np.float16),
            bottleneck=out["bottleneck"],
            labels=labels,
            image_ids=np.asarray([f"{name}{i}" for i in range(n)]),
            copy_index=np.zeros(n, int),
        )
    keras.utils.set_random_seed(0)
    models.assemble_classifier(
        base, models.build_head(base.output.shape[1:]), SIZE, "transfer"
    ).save(tmp_path / "transfer.keras")
    out = {
        "model": tmp_path / "m.keras",
        "history": tmp_path / "h.csv",
        "checkpoint": tmp_path / "ckpt",
    }
    settings = {"epochs": 1, "batch_size": 8, "learning_rate": 0.01, "momentum": 0.9, "seed": 3}
    inputs = {
        "train": tmp_path / "train.npz",
        "val": tmp_path / "val.npz",
        "start": tmp_path / "transfer.keras",
    }
    train_model_job("finetune45", inputs, {"settings": settings}, out)
    trained = keras.models.load_model(out["model"]).get_layer(models.BASE_NAME)
    assert (
        trained.name == models.BASE_NAME
        and keras.models.load_model(out["model"]).name == "finetune45"
    )
    for layer, changed in (("block3_conv3", False), ("block4_conv1", True), ("block5_conv3", True)):
        before, after = (
            base.get_layer(layer).get_weights()[0],
            trained.get_layer(layer).get_weights()[0],
        )
        assert (not np.array_equal(before, after)) == changed, layer


def test_extraction_computes_only_the_features_the_selected_models_read():
    assert feature_keys(["transfer"]) == ["bottleneck"]
    assert feature_keys(["finetune"]) == ["block4", "bottleneck"]  # it continues transfer
    assert feature_keys(["baseline"]) == []
