"""bench/tune_block4.py: its block4 + block5 trainer on cached block3 features is the same network
as the full classifier, and it trains exactly blocks 4 and 5 and the head; the SGD curve and the
record summary it shares with bench/tune_finetune.py."""

import sys
from argparse import Namespace
from pathlib import Path

import keras
import numpy as np

from busflow import models

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from tune_block4 import block3_extractor, build_block45_trainer  # noqa: E402
from tune_finetune import curve_summary, sgd_curve  # noqa: E402

SIZE = 32


def test_trainer_on_block3_features_equals_the_full_model(vgg16_weights_file):
    base = models.build_vgg16_base(SIZE, vgg16_weights_file)
    head = models.build_head(base.output.shape[1:], dropout=0.0)
    classifier = models.assemble_classifier(base, head, SIZE, "full")
    trainer = build_block45_trainer(base, head)
    pixels = np.random.default_rng(2).integers(0, 256, (3, SIZE, SIZE, 1), dtype=np.uint8)
    block3 = block3_extractor(base, SIZE).predict(pixels, verbose=0)
    assert block3.shape == (3, SIZE // 8, SIZE // 8, 256)
    np.testing.assert_allclose(trainer.predict(block3, verbose=0), classifier.predict(pixels, verbose=0), atol=1e-5)


def test_trainer_trains_blocks_4_and_5_and_the_head_only(vgg16_weights_file):
    base = models.build_vgg16_base(SIZE, vgg16_weights_file)
    head = models.build_head(base.output.shape[1:])
    trainer = build_block45_trainer(base, head)
    trainable = {w.path.split("/")[0] for w in trainer.trainable_weights}
    convs = {f"block{b}_conv{c}" for b in (4, 5) for c in (1, 2, 3)}
    assert convs <= trainable
    assert not any(name.startswith(("block1", "block2", "block3")) for name in trainable)
    assert len(trainer.trainable_weights) == 2 * len(convs) + len(head.trainable_weights)


def test_sgd_curve_scores_before_and_after_each_epoch_and_summary_averages_folds(vgg16_weights_file):
    keras.utils.set_random_seed(0)
    base = models.build_vgg16_base(SIZE, vgg16_weights_file)
    head = models.build_head(base.output.shape[1:], dropout=0.0)
    trainer = build_block45_trainer(base, head)
    rng = np.random.default_rng(3)
    features = rng.normal(size=(12, SIZE // 8, SIZE // 8, 256)).astype(np.float32) ** 2
    labels = np.tile([0, 1], 6)
    train, val = {"x": features[:8], "labels": labels[:8]}, {"x": features[8:], "labels": labels[8:]}
    before = trainer.predict(val["x"], verbose=0)
    args = Namespace(lr=0.001, momentum=0.9, epochs=2, seed=3, batch=4)
    curve = sgd_curve(trainer, train, val, 0, args)
    assert curve.shape == (3, 3)
    assert curve[0, 1] == np.mean((before.ravel() > 0.5) == val["labels"])
    assert not np.allclose(trainer.predict(val["x"], verbose=0), before)
    summary = curve_summary(np.stack([curve, curve + 0.1]))
    assert [row["epoch"] for row in summary["val_mean_per_epoch"]] == [0, 1, 2]
    assert summary["val_mean_per_epoch"][2]["auc"] == round(float(curve[2, 0] + 0.05), 4)
    assert summary["val_auc_per_fold_last_epoch"] == [round(float(curve[2, 0]), 4), round(float(curve[2, 0] + 0.1), 4)]
    assert summary["val_acc_per_fold_last_epoch"] == [round(float(curve[2, 1]), 4), round(float(curve[2, 1] + 0.1), 4)]
