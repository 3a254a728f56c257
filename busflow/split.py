"""Assigning images to train/val/test, grouped and stable.

``leak_free`` (default): every duplicate group goes to one split, chosen by a stable hash of the
group key, separately per label. A group's split depends only on its key and the seed, never on
the other rows, so adding images never moves existing ones. Fractions are met in expectation per
label (stratified by label; exact counts vary by a few images on small data).

``paper``: the paper's protocol. All images are augmented first, and the augmented copies are
split 70/30 afterwards (see busflow.shards), so copies of one image land in train and test. Its
rows are marked ``leaky``.

split.csv has one row per (image, fold): with ``evaluation.folds`` = 1 that is one row per image
in fold 0; with k > 1 each image has k rows, see busflow.folds.
"""

import pandas as pd

from busflow.errors import ConfigError
from busflow.folds import check_every_fold_has_every_class, fold_roles
from busflow.hashing import stable_unit

PROTOCOLS = ("leak_free", "paper")
SPLIT_COLUMNS = ["image_id", "label", "group", "fold", "split", "protocol", "leaky"]


def split_of_group(group: str, label: str, seed: int, val_fraction: float, test_fraction: float) -> str:
    """The split of one duplicate group under leak_free."""
    u = stable_unit("split", seed, label, group)
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def assign_splits(manifest: pd.DataFrame, split_cfg: dict, folds: int = 1) -> pd.DataFrame:
    """split.csv rows for the images that take part (label conflicts are left out)."""
    protocol = split_cfg.get("protocol", "leak_free")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"split.protocol '{protocol}' is not one of {', '.join(PROTOCOLS)}")
    usable = manifest[~manifest["conflict"].astype(bool)].copy()
    if protocol == "paper":
        # The paper's split is per augmented copy, made in busflow.shards / busflow.folds.
        usable = pd.concat([usable.assign(fold=fold, split="pool") for fold in range(folds)], ignore_index=True)
    elif folds > 1:
        usable = fold_roles(usable, split_cfg, folds)
        check_every_fold_has_every_class(usable)
    else:
        usable["fold"] = 0
        usable["split"] = [
            split_of_group(g, lab, split_cfg["seed"], split_cfg["val_fraction"], split_cfg["test_fraction"])
            for g, lab in zip(usable["group"], usable["label"])
        ]
        check_every_split_has_every_class(usable)
    usable["protocol"] = protocol
    usable["leaky"] = protocol == "paper"
    return usable[SPLIT_COLUMNS].sort_values(["fold", "image_id"], ignore_index=True)


def check_every_split_has_every_class(split: pd.DataFrame) -> None:
    counts = split.groupby(["split", "label"]).size()
    for name in ("train", "val", "test"):
        for label in split["label"].unique():
            if counts.get((name, label), 0) == 0:
                raise ConfigError(
                    f"the {name} split has no '{label}' image: too few images for "
                    f"split.val_fraction/test_fraction. Add images or raise the fractions."
                )
