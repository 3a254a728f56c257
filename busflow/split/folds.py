"""Grouped, stratified k-fold cross-validation: which samples train, validate and test in each fold.

``evaluation.folds`` = k > 1 puts every duplicate group in one test fold, floor(u * k) of a stable
hash u of (seed, label, group); hashing per label stratifies the folds by label (in expectation),
and a group's fold depends on nothing but its key, so adding images moves no existing image. The
groups outside a fold's test fold are validation with a second, independent hash, so that val is
``split.val_fraction`` of all groups, and train otherwise.

Under k-fold every image is augmented once, into "pool" shards, and the folds pick their samples
from them: train uses all augmented copies of its images, val and test only the unaugmented
original. The augmentation of an image does not depend on the fold, so the frozen VGG16 features
of the pool are computed once for all folds.

Under the paper's protocol the unit is the augmented copy instead of the group (leaky on purpose):
copy c of image i is in test fold floor(u * k), and validation uses the test copies, as the paper
did.
"""

import numpy as np
import pandas as pd

from busflow.config.sections import SplitSettings
from busflow.errors import ConfigError
from busflow.hashing import stable_unit
from busflow.protocol import splits_copies
from busflow.store import take

ROLES = ("train", "val", "test")
ORIGINAL_WHEN_NOT_KEPT = -1  # copy_index of the extra, unaugmented sample when keep_original is off


def fold_of(seed: int, folds: int, *key) -> int:
    return int(stable_unit("fold", seed, *key) * folds)


def is_validation(group: str, label: str, seed: int, val_fraction: float, folds: int) -> bool:
    """val_fraction of all groups are validation: that is val_fraction /
    (1 - 1/k) of the non-test ones."""
    share = min(
        val_fraction / (1 - 1 / folds), 0.5
    )  # with k = 2 a large val_fraction would starve train
    return in_validation_share(group, label, seed, share)


def in_validation_share(group: str, label: str, seed: int, share: float) -> bool:
    """The validation hash of the folds (k-fold and leave one site out): a group is validation in
    every fold where it does not test when its stable hash falls below ``share``."""
    return stable_unit("fold-val", seed, label, group) < share


def fold_roles(groups: pd.DataFrame, split_cfg: dict, folds: int) -> pd.DataFrame:
    """Long table: one row per (image, fold) with the image's split
    (train/val/test) in that fold."""
    split_cfg = SplitSettings.of(split_cfg)
    seed = split_cfg.seed
    test_fold = [fold_of(seed, folds, lab, g) for g, lab in zip(groups["group"], groups["label"])]
    validation = [
        is_validation(g, lab, seed, split_cfg.val_fraction, folds)
        for g, lab in zip(groups["group"], groups["label"])
    ]
    tables = []
    for fold in range(folds):
        table = groups.copy()
        table["fold"] = fold
        table["split"] = np.where(
            np.asarray(test_fold) == fold, "test", np.where(validation, "val", "train")
        )
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def original_copy_index(keep_original: bool) -> int:
    """Where a pool shard keeps an image's unaugmented original."""
    return 0 if keep_original else ORIGINAL_WHEN_NOT_KEPT


def paper_copy_fold(image_id: str, copy: int, seed: int, folds: int) -> int:
    return int(stable_unit("paper-split", seed, image_id, copy) * folds)


def sample_mask(
    image_ids, copy_index, split_table: pd.DataFrame, fold: int, role: str, selection: dict
) -> np.ndarray:
    """Which samples of the pool shards (or pool features) play ``role`` in ``fold``."""
    if role not in ROLES:
        raise ValueError(f"role '{role}' is not one of {', '.join(ROLES)}")
    image_ids, copy_index = np.asarray(image_ids), np.asarray(copy_index)
    if splits_copies(selection["protocol"]):
        return _paper_mask(image_ids, copy_index, fold, role, selection)
    rows = split_table[split_table["fold"] == fold]
    split_of = dict(zip(rows["image_id"], rows["split"]))
    splits = np.asarray([split_of.get(i, "") for i in image_ids])
    if role == "train":
        return (splits == "train") & (copy_index >= 0)
    return (splits == role) & (copy_index == original_copy_index(selection["keep_original"]))


def _paper_mask(image_ids, copy_index, fold: int, role: str, selection: dict) -> np.ndarray:
    # The paper validated on its (leaky) test copies, so val and test are the same samples.
    in_test = np.asarray(
        [
            paper_copy_fold(i, int(c), selection["seed"], selection["folds"]) == fold
            for i, c in zip(image_ids, copy_index)
        ],
        dtype=bool,
    )
    return ~in_test if role == "train" else in_test


def select_samples(
    arrays: dict[str, np.ndarray], split_table: pd.DataFrame, fold: int, role: str, selection: dict
) -> dict:
    """The arrays (images or features, labels, ids, copies) restricted to one fold's role."""
    mask = sample_mask(
        arrays["image_ids"], arrays["copy_index"], split_table, fold, role, selection
    )
    return {key: take(value, mask) for key, value in arrays.items()}


def check_every_fold_has_every_class(table: pd.DataFrame, missing_message=None) -> None:
    """Every fold needs both classes in train, val and test, or its metrics are undefined.
    ``missing_message(fold, role, label)`` words the error (default: k-fold's)."""
    counts = table.groupby(["fold", "split", "label"]).size()
    for fold in sorted(table["fold"].unique()):
        for name in ROLES:
            for label in table["label"].unique():
                if counts.get((fold, name, label), 0) == 0:
                    raise ConfigError(
                        missing_message(fold, name, label)
                        if missing_message
                        else (
                            f"fold {fold}'s {name} split has no '{label}' image: too few "
                            f"images for evaluation.folds={table['fold'].nunique()}. Add "
                            "images, or lower evaluation.folds."
                        )
                    )
