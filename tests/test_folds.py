"""k-fold cross-validation: grouped, stratified, stable, each image tested exactly once."""

import numpy as np
import pytest
from test_split import SPLIT_CFG, synthetic_manifest

from busflow.augment.shards import ShardSpec, build_shard
from busflow.data.manifest import build_manifest
from busflow.errors import ConfigError
from busflow.split.assign import assign_splits
from busflow.split.folds import ORIGINAL_WHEN_NOT_KEPT, sample_mask, select_samples

K = 5
LEAK_FREE = {"protocol": "leak_free", "seed": 42, "folds": K, "keep_original": True}


def test_each_image_is_tested_in_exactly_one_fold_and_groups_stay_together():
    split = assign_splits(synthetic_manifest(900, group_size=3), SPLIT_CFG, folds=K)
    assert len(split) == K * 900
    tested = split[split["split"] == "test"]
    assert tested["image_id"].value_counts().eq(1).all() and tested["image_id"].nunique() == 900
    assert split.groupby(["fold", "group"])["split"].nunique().max() == 1


def test_folds_are_stratified_and_val_share_matches_config():
    split = assign_splits(synthetic_manifest(5000), SPLIT_CFG, folds=K)
    tested = split[split["split"] == "test"]
    malignant_share = tested.groupby("fold")["label"].apply(lambda s: (s == "malignant").mean())
    overall = (split.drop_duplicates("image_id")["label"] == "malignant").mean()
    assert np.allclose(malignant_share, overall, atol=0.04)
    assert np.allclose(tested["fold"].value_counts(normalize=True), 1 / K, atol=0.02)
    val_share = (split["split"] == "val").groupby(split["fold"]).mean()
    assert np.allclose(val_share, SPLIT_CFG["val_fraction"], atol=0.03)


def test_adding_images_moves_no_existing_image_between_folds():
    key = ["fold", "image_id"]
    before = assign_splits(synthetic_manifest(300), SPLIT_CFG, folds=K).set_index(key)
    grown = synthetic_manifest(400)
    after = assign_splits(grown, SPLIT_CFG, folds=K).set_index(key).loc[before.index]
    assert (after["split"] == before["split"]).all()


def test_too_few_images_for_the_folds_names_the_fold_and_the_fix():
    with pytest.raises(ConfigError, match="evaluation.folds"):
        assign_splits(synthetic_manifest(12), SPLIT_CFG, folds=K)


def test_one_fold_is_the_plain_split_in_fold_zero():
    one = assign_splits(synthetic_manifest(300), SPLIT_CFG, folds=1)
    assert set(one["fold"]) == {0} and set(one["split"]) == {"train", "val", "test"}


def test_pool_shards_hold_every_copy_and_folds_pick_train_copies_and_test_originals(demo_raw, cfg):
    manifest = build_manifest(demo_raw, {"classes": ["benign", "malignant"], "ignore_folders": []})[
        "manifest"
    ]
    cfg["split"].update(
        val_fraction=0.1, seed=46
    )  # 24 images: a seed that keeps both classes in every role
    split = assign_splits(manifest, cfg["split"], folds=2)
    pool = build_shard(split, manifest, ShardSpec("pool", 0, 1), cfg)
    factor = cfg["augment"]["factor"]
    assert len(pool["labels"]) == factor * len(manifest)
    selection = {**LEAK_FREE, "folds": 2}
    for fold in range(2):
        rows = split[split["fold"] == fold].set_index("image_id")["split"]
        train = select_samples(pool, split, fold, "train", selection)
        test = select_samples(pool, split, fold, "test", selection)
        assert set(train["image_ids"]) == set(rows[rows == "train"].index)
        assert len(train["labels"]) == factor * (rows == "train").sum()
        assert (
            set(test["image_ids"]) == set(rows[rows == "test"].index)
            and (test["copy_index"] == 0).all()
        )
        assert not set(train["image_ids"]) & set(test["image_ids"])


def test_without_keep_original_pool_adds_the_unaugmented_original_for_val_and_test(demo_raw, cfg):
    manifest = build_manifest(demo_raw, {"classes": ["benign", "malignant"], "ignore_folders": []})[
        "manifest"
    ]
    cfg["augment"]["keep_original"] = False
    cfg["split"].update(val_fraction=0.1, seed=46)
    split = assign_splits(manifest, cfg["split"], folds=2)
    pool = build_shard(split, manifest, ShardSpec("pool", 0, 1), cfg)
    assert (pool["copy_index"] == ORIGINAL_WHEN_NOT_KEPT).sum() == len(manifest)
    selection = {**LEAK_FREE, "folds": 2, "keep_original": False}
    test = select_samples(pool, split, 0, "test", selection)
    assert (test["copy_index"] == ORIGINAL_WHEN_NOT_KEPT).all()
    train = select_samples(pool, split, 0, "train", selection)
    assert (train["copy_index"] >= 0).all()


def test_paper_protocol_folds_split_copies_so_images_leak_and_val_is_test():
    split = assign_splits(synthetic_manifest(50), {**SPLIT_CFG, "protocol": "paper"}, folds=K)
    ids = np.repeat(split.drop_duplicates("image_id")["image_id"].to_numpy(), 24)
    copies = np.tile(np.arange(24), 50)
    paper = {**LEAK_FREE, "protocol": "paper"}
    test = sample_mask(ids, copies, split, 0, "test", paper)
    train = sample_mask(ids, copies, split, 0, "train", paper)
    assert not (test & train).any() and (test | train).all()
    assert set(ids[test]) & set(ids[train])  # the leak: one image's copies on both sides
    assert (sample_mask(ids, copies, split, 0, "val", paper) == test).all()
    every_fold = np.sum(
        [sample_mask(ids, copies, split, f, "test", paper) for f in range(K)], axis=0
    )
    assert (every_fold == 1).all()
