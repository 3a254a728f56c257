"""Shards: exactly factor x train images, deterministic, NumPy-readable, test never augmented."""

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from busflow import store
from busflow.augment.shards import (
    ShardSpec,
    build_shard,
    copies_per_image,
    is_augmented,
    load_shards,
    shard_meta,
    stream_shard,
    write_shard,
)
from busflow.data.manifest import build_manifest
from busflow.data.regions import RoiRule, model_input
from busflow.split.assign import assign_splits
from busflow.store import Rows

DATA_CFG = {
    "classes": ["benign", "malignant"],
    "ignore_folders": [],
    "exclude_pattern": "*_mask*",
    "near_duplicate_distance": 4,
}


@pytest.fixture
def tables(demo_raw, cfg):
    manifest = build_manifest(demo_raw, DATA_CFG)["manifest"]
    cfg["split"].update(val_fraction=0.25, test_fraction=0.25)
    return manifest, assign_splits(manifest, cfg["split"])


def all_shards(tables, cfg, split, n_shards=2):
    manifest, split_table = tables
    return [
        build_shard(split_table, manifest, ShardSpec(split, i, n_shards), cfg)
        for i in range(n_shards)
    ]


def test_train_shards_hold_factor_times_train_images(tables, cfg):
    shards = all_shards(tables, cfg, "train")
    n_train = (tables[1]["split"] == "train").sum()
    assert sum(len(s["labels"]) for s in shards) == cfg["augment"]["factor"] * n_train
    ids = [i for s in shards for i in s["image_ids"]]
    assert set(Counter(ids).values()) == {cfg["augment"]["factor"]}
    assert not set(shards[0]["image_ids"]) & set(shards[1]["image_ids"])


def test_balanced_counts_reach_factor_times_largest_class(tables, cfg):
    cfg["augment"]["balance"] = True
    train = tables[1][tables[1]["split"] == "train"]
    shards = all_shards(tables, cfg, "train")
    labels = np.concatenate([s["labels"] for s in shards])
    largest = train["label"].value_counts().max()
    assert np.bincount(labels).tolist() == [cfg["augment"]["factor"] * largest] * 2


def test_copies_per_image_without_balance_is_the_factor():
    rows = pd.DataFrame({"image_id": ["a", "b", "c"], "label": ["x", "x", "y"]})
    assert copies_per_image(rows, 24, balance=False) == {"a": 24, "b": 24, "c": 24}
    assert sum(v for k, v in copies_per_image(rows, 24, balance=True).items() if k == "c") == 48


def test_same_seed_gives_identical_shards_and_another_seed_does_not(tables, cfg):
    first = all_shards(tables, cfg, "train")
    second = all_shards(tables, cfg, "train")
    for a, b in zip(first, second):
        assert np.array_equal(a["images"], b["images"])
    cfg["augment"]["seed"] += 1
    third = all_shards(tables, cfg, "train")
    assert not np.array_equal(first[0]["images"], third[0]["images"])


def test_test_split_is_never_augmented(tables, cfg):
    manifest, split_table = tables
    shard = build_shard(split_table, manifest, ShardSpec("test", 0, 1), cfg)
    assert len(shard["labels"]) == (split_table["split"] == "test").sum()
    paths = manifest.set_index("image_id")["path"]
    for image, image_id in zip(shard["images"], shard["image_ids"]):
        assert np.array_equal(image, model_input(paths[image_id], 32, None, None, RoiRule()))


def test_paper_protocol_puts_copies_of_one_image_in_train_and_test(demo_raw, cfg):
    cfg["split"]["protocol"] = "paper"
    cfg["augment"]["factor"] = 10
    manifest = build_manifest(demo_raw, DATA_CFG)["manifest"]
    split_table = assign_splits(manifest, cfg["split"])
    train = build_shard(split_table, manifest, ShardSpec("train", 0, 1), cfg)
    test = build_shard(split_table, manifest, ShardSpec("test", 0, 1), cfg)
    assert len(train["labels"]) + len(test["labels"]) == 10 * len(manifest)
    assert len(test["labels"]) / (10 * len(manifest)) == pytest.approx(0.3, abs=0.08)
    assert set(train["image_ids"]) & set(test["image_ids"])  # the leak, reproduced on purpose


def test_shard_file_is_readable_with_numpy_alone(tables, cfg, tmp_path):
    manifest, split_table = tables
    spec = ShardSpec("train", 0, 2)
    arrays = build_shard(split_table, manifest, spec, cfg)
    write_shard(tmp_path / "0.npz", arrays, shard_meta(spec, cfg))
    with np.load(tmp_path / "0.npz", allow_pickle=False) as shard:
        assert shard["images"].dtype == np.uint8
        assert shard["images"].shape[1:] == (32, 32)
        meta = json.loads(str(shard["meta"]))
    assert meta["protocol"] == "leak_free" and meta["leaky"] is False
    assert not list(tmp_path.glob("*.tmp*"))


def test_train_the_pool_and_every_paper_split_are_augmented_and_sharded():
    """One rule for the shards' content and (rules/common.smk n_shards) their number: an augmented
    split has augment.shards shards, the others one."""
    assert [is_augmented(s, "leak_free") for s in ("train", "pool", "val", "test")] == [
        True,
        True,
        False,
        False,
    ]
    assert all(is_augmented(s, "paper") for s in ("train", "test"))


def test_streamed_shard_equals_the_shard_built_in_memory_and_is_read_lazily(
    tables, cfg, tmp_path, monkeypatch
):
    """The rule writes a shard image by image; its content is that of build_shard, NumPy alone
    reads it, and load_shards leaves the images on disk (busflow.store.Rows)."""
    manifest, split_table = tables
    spec = ShardSpec("train", 1, 2)
    counts = stream_shard(split_table, manifest, spec, cfg, tmp_path / "1.npz")
    expected = build_shard(split_table, manifest, spec, cfg)
    with np.load(tmp_path / "1.npz", allow_pickle=False) as shard:
        for key, values in expected.items():
            np.testing.assert_array_equal(shard[key], values)
        assert json.loads(str(shard["meta"])) == shard_meta(spec, cfg)
    assert counts == {"samples": len(expected["labels"]), "images": len(set(expected["image_ids"]))}
    monkeypatch.setattr(store, "LAZY_BYTES", 0)  # these test images are small
    loaded = load_shards([tmp_path / "1.npz", tmp_path / "1.npz"])
    assert isinstance(loaded["images"], Rows)
    assert len(loaded["images"]) == 2 * len(expected["labels"])
    np.testing.assert_array_equal(loaded["images"][[-1, 0]], expected["images"][[-1, 0]])
    assert not list(tmp_path.glob("*.tmp*")) and not list(tmp_path.glob(".1.npz*"))
