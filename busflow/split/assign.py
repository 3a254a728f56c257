"""Assigning images to train/val/test, grouped and stable.

``leak_free`` (default): every duplicate group goes to one split, chosen by a stable hash of the
group key, separately per label. A group's split depends only on its key and the seed, never on
the other rows, so adding images never moves existing ones. Fractions are met in expectation per
label (stratified by label; exact counts vary by a few images on small data).

``paper``: the paper's protocol. All images are augmented first, and the augmented copies are
split 70/30 afterwards (see busflow.augment.shards), so copies of one image land in train and test.
Its rows are marked ``leaky``.

split.csv has one row per (image, fold): with ``evaluation.folds`` = 1 that is one row per image
in fold 0; with k > 1 each image has k rows, see busflow.split.folds.

The hash alone cannot keep existing images in place when a new duplicate joins their group; the
split record does (busflow.split.record): ``plan_split`` honours it and says what to add to it.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from busflow.config.sections import SplitSettings
from busflow.errors import ConfigError
from busflow.hashing import stable_unit
from busflow.protocol import PROTOCOLS, is_leaky, splits_copies
from busflow.split.folds import check_every_fold_has_every_class, fold_roles, in_validation_share
from busflow.split.record import (
    CONFLICT_COLUMNS,
    honour_record,
    long_table,
    settings_key,
    updated_record,
)

SPLIT_COLUMNS = ["image_id", "label", "group", "fold", "split", "protocol", "leaky"]


def split_of_group(
    group: str, label: str, seed: int, val_fraction: float, test_fraction: float
) -> str:
    """The split of one duplicate group under leak_free."""
    u = stable_unit("split", seed, label, group)
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


@dataclass(frozen=True)
class SplitPlan:
    table: pd.DataFrame  # split.csv
    record: pd.DataFrame  # the split record to write back (unchanged under the paper protocol)
    conflicts: (
        pd.DataFrame
    )  # qc/split_conflicts.csv: images a recorded split left out or could not keep apart


def hashed_roles(
    usable: pd.DataFrame, split_cfg: SplitSettings, folds: int, held_out_sites=None
) -> pd.DataFrame:
    """Long (image, fold) table from the stable hashes of the group keys alone (leak_free), or with
    ``held_out_sites`` one fold per site (leave one site out)."""
    if held_out_sites:
        return site_roles(usable, split_cfg, held_out_sites)
    if folds > 1:
        return fold_roles(usable, split_cfg, folds)
    return usable.assign(
        fold=0,
        split=[
            split_of_group(g, lab, split_cfg.seed, split_cfg.val_fraction, split_cfg.test_fraction)
            for g, lab in zip(usable["group"], usable["label"])
        ],
    )


def site_roles(usable: pd.DataFrame, split_cfg: SplitSettings, sites: list[str]) -> pd.DataFrame:
    """Fold k tests every image of site k; the other sites' groups train, but for a hashed
    validation share (as in k-fold); a group with an image at site k is ``excluded`` from fold k."""
    if "site" not in usable or not set(sites) <= set(usable["site"]):
        missing = sorted(set(sites) - set(usable.get("site", [])))
        raise ConfigError(
            f"evaluation.leave_one_site_out: no image of site(s) {', '.join(missing)} in the "
            "manifest. List two or more sites with images under data.raw."
        )
    # val_fraction of the training sites' groups (the held-out site is no share of them)
    validation = [
        in_validation_share(g, lab, split_cfg.seed, split_cfg.val_fraction)
        for g, lab in zip(usable["group"], usable["label"])
    ]
    tables = []
    for fold, site in enumerate(sites):
        held = usable["site"] == site
        shares_a_group = usable["group"].isin(usable.loc[held, "group"])
        split = np.where(
            held, "test", np.where(shares_a_group, "excluded", np.where(validation, "val", "train"))
        )
        tables.append(usable.assign(fold=fold, split=split))
    table = pd.concat(tables, ignore_index=True)
    check_every_site_fold_has_every_class(table, sites)
    return table.drop(columns="site")


def check_every_site_fold_has_every_class(table: pd.DataFrame, sites: list[str]) -> None:
    def missing(fold, role, label):
        site = sites[fold]
        where = f"site {site}" if role == "test" else f"the sites other than {site}"
        return (
            f"leave-one-site-out fold {fold} (held-out site {site}): its {role} split has "
            f"no '{label}' image. Add '{label}' images to {where}, or raise "
            "split.val_fraction if it is the val split."
        )

    check_every_fold_has_every_class(table, missing)


def plan_split(
    manifest: pd.DataFrame,
    split_cfg: SplitSettings | dict,
    folds: int = 1,
    record: pd.DataFrame | None = None,
    held_out_sites: list[str] | None = None,
) -> SplitPlan:
    """split.csv rows for the images that take part (label conflicts are left out), honouring the
    split record under leak_free (None: no record, a pure function of the manifest).
    ``held_out_sites``: leave one site out, fold k holding out the k-th (busflow.data.sites)."""
    split_cfg = SplitSettings.of(split_cfg)
    protocol = split_cfg.protocol
    if protocol not in PROTOCOLS:
        raise ConfigError(f"split.protocol '{protocol}' is not one of {', '.join(PROTOCOLS)}")
    columns = ["image_id", "label", "group"] + (["site"] if held_out_sites else [])
    usable = manifest[~manifest["conflict"].astype(bool)][columns]
    conflicts = pd.DataFrame(columns=CONFLICT_COLUMNS)
    if splits_copies(protocol):
        # The paper's split is per augmented copy, made in busflow.augment.shards /
        # busflow.split.folds.
        table = pd.concat(
            [usable.assign(fold=fold, split="pool") for fold in range(folds)], ignore_index=True
        )
    else:
        table = hashed_roles(hashed_by_group_label(usable), split_cfg, folds, held_out_sites)
        table["label"] = table["image_id"].map(usable.set_index("image_id")["label"])
        usable = usable[["image_id", "label", "group"]]
        # Leave one site out needs no record: an image's test fold is its site, which nothing moves,
        # and a recorded role could send a new duplicate to the wrong site's fold.
        if record is not None and not held_out_sites:
            key = settings_key(split_cfg, folds)
            roles, conflicts = honour_record(table, record[record["settings"] == key])
            table = long_table(usable, roles)
            record = updated_record(record, key, table)
        if folds > 1:
            check_every_fold_has_every_class(table)
        else:
            check_every_split_has_every_class(table)
    table = table.assign(protocol=protocol, leaky=is_leaky(protocol))
    return SplitPlan(
        table[SPLIT_COLUMNS].sort_values(["fold", "image_id"], ignore_index=True), record, conflicts
    )


def hashed_by_group_label(usable: pd.DataFrame) -> pd.DataFrame:
    """The split hashes are stratified by label; a patient's group may hold a benign and a
    malignant lesion, and hashing each image with its own label would split the patient. Every
    image of a group is hashed with the group's first label (in sort order), which is its own
    label wherever the group has one label, so splits without such groups do not move."""
    group_label = usable.groupby("group")["label"].transform("min")
    return usable.assign(label=group_label)


def split_units(split: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """results/qc/split_units.csv: per fold, split and label, the images, the groups (the unit a
    split keeps together) and the patients (where the manifest names them)."""
    patients = manifest.set_index("image_id")["patient"] if "patient" in manifest else None
    rows = split.assign(
        patient=split["image_id"].map(patients).fillna("") if patients is not None else ""
    )
    named = rows[rows["patient"].astype(str) != ""]
    table = rows.groupby(["fold", "split", "label"]).agg(
        images=("image_id", "size"), groups=("group", "nunique")
    )
    table["patients"] = named.groupby(["fold", "split", "label"])["patient"].nunique()
    return table.fillna({"patients": 0}).astype({"patients": int}).reset_index()


def assign_splits(
    manifest: pd.DataFrame, split_cfg: dict, folds: int = 1, record: pd.DataFrame | None = None
) -> pd.DataFrame:
    """split.csv's rows (see plan_split)."""
    return plan_split(manifest, split_cfg, folds, record).table


def check_every_split_has_every_class(split: pd.DataFrame) -> None:
    counts = split.groupby(["split", "label"]).size()
    for name in ("train", "val", "test"):
        for label in split["label"].unique():
            if counts.get((name, label), 0) == 0:
                raise ConfigError(
                    f"the {name} split has no '{label}' image: too few '{label}' images for "
                    f"split.val_fraction/test_fraction. Add images, or {fraction_fix(name)}."
                )


def fraction_fix(split: str) -> str:
    """The fraction change that gives an empty split images: train gets what val and test leave."""
    if split == "train":
        return "lower split.val_fraction and split.test_fraction"
    return f"raise split.{split}_fraction"
