"""A split's or a fold's samples, read from the augmented shards.

One split: its own shards, taken whole. k-fold: every split reads the one pool and picks the
fold's samples for a role (train, val or test) with busflow.split.folds.
"""

import pandas as pd

from busflow.augment.shards import load_shards, read_shard_meta
from busflow.data.sites import fold_count, held_out_sites
from busflow.split.folds import select_samples


def load_split(paths) -> tuple[dict, dict]:
    """Arrays and metadata of one split's shards (metadata of the first shard)."""
    return load_shards(paths), read_shard_meta(paths[0])


def select_roles(arrays: dict, roles, selection: dict | None) -> list[dict]:
    """Each role's samples. Without a selection the arrays are one split's own shards, taken whole;
    with one (k-fold: split_csv, fold, folds, protocol, seed, keep_original) they are the pool."""
    if not selection:
        return [arrays for _ in roles]
    split_table = pd.read_csv(selection["split_csv"], keep_default_na=False)
    return [
        select_samples(arrays, split_table, selection["fold"], role, selection) for role in roles
    ]


def load_train_val(train_paths, val_paths, selection: dict | None = None) -> tuple[dict, dict]:
    """Train and val samples; k-fold reads the pool shards once and splits them."""
    if selection:
        return tuple(select_roles(load_shards(train_paths), ["train", "val"], selection))
    return load_shards(train_paths), load_shards(val_paths)


def load_role(paths, role: str, selection: dict | None = None) -> tuple[dict, dict]:
    data, meta = load_split(paths)
    return select_roles(data, [role], selection)[0], meta


def fold_selection(config: dict, split_csv: str, fold: int) -> dict:
    """What select_roles needs to pick fold ``fold``'s samples from the pool of a k-fold run
    (leave one site out: also the name of the fold's held-out site)."""
    selection = {
        "split_csv": split_csv,
        "fold": int(fold),
        "folds": fold_count(config),
        "protocol": config["split"]["protocol"],
        "seed": config["split"]["seed"],
        "keep_original": config["augment"]["keep_original"],
    }
    sites = held_out_sites(config)
    if sites:
        selection["held_out_site"] = sites[int(fold)]
    return selection
