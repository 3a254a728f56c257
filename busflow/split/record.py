"""The split record: which split (and test fold) every image was given, kept so later runs honour
it.

A split computed from today's folder alone cannot keep its promise that existing images never
move: a new copy of an image joins that image's duplicate group, and whatever the group key, a
pure function of the group may then choose another split for the whole group. So the first run
writes each image's roles (its split in every fold) to the record, and every later run
(``leak_free`` only; the paper protocol splits augmented copies by image id and copy, which
nothing can move):

- keeps every recorded image in its recorded roles, whatever was added or removed;
- gives a new image the roles of its group's recorded images;
- leaves out a new image whose group holds recorded images with different roles (it links
  groups that sit in different splits; putting it in either would leak) and lists it, and those
  recorded images, in ``qc/split_conflicts.csv`` with the reason;
- gives a group with no recorded image the stable hash of its key (busflow.split.assign,
busflow.split.folds).

Rows of removed images stay in the record, so an image that comes back returns to its split.
Records of different split settings (seed, fractions, folds) are kept side by side, keyed by
``settings``. Deleting the record starts over (every image is then hashed afresh).
"""

import os
from pathlib import Path

import pandas as pd

from busflow.config.sections import SplitSettings
from busflow.errors import ConfigError

RECORD_COLUMNS = ["settings", "image_id", "label", "group", "fold", "split"]
CONFLICT_COLUMNS = ["image_id", "label", "group", "status", "reason"]
LINKS_SPLITS = (
    "left out: a duplicate of images recorded in different splits or folds; in either it would leak"
)
SPANS_SPLITS = (
    "kept in its recorded split; its duplicate group now spans splits or folds (linked by a new "
    "image, or by a changed duplicate finder); delete the split record to re-split from scratch"
)


def settings_key(split_cfg: dict, folds: int) -> str:
    """The split settings a record section was made under; under k-fold test_fraction is unused."""
    split_cfg = SplitSettings.of(split_cfg)
    key = f"folds={folds} seed={split_cfg.seed} val_fraction={split_cfg.val_fraction}"
    return key if folds > 1 else f"{key} test_fraction={split_cfg.test_fraction}"


def read_record(path) -> pd.DataFrame:
    """The record at ``path``; an empty one if the file does not exist yet."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=RECORD_COLUMNS)
    try:
        record = pd.read_csv(path, dtype={"fold": int}, keep_default_na=False)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ConfigError(
            f"{path}: the split record cannot be read ({error}). Restore it from a backup, or "
            f"delete it to re-split every image from scratch (existing images may move)."
        ) from None
    missing = [c for c in RECORD_COLUMNS if c not in record.columns]
    if missing:
        raise ConfigError(
            f"{path}: not a split record (no column {', '.join(missing)}). Point split.record at "
            f"the record busflow wrote, or delete the file to re-split from scratch."
        )
    return record[RECORD_COLUMNS]


def write_record(record: pd.DataFrame, path) -> None:
    """Atomically: a killed job leaves the old record or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    record.sort_values(["settings", "image_id", "fold"]).to_csv(tmp, index=False)
    os.replace(tmp, path)


def roles_of(table: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """image_id -> its split in fold 0, 1, ... of a long (image, fold) table."""
    ordered = table.sort_values(["image_id", "fold"])
    return {
        image_id: tuple(rows["split"]) for image_id, rows in ordered.groupby("image_id", sort=False)
    }


def honour_record(fresh: pd.DataFrame, recorded: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """Roles per image given the recorded ones (see the module doc), and the split conflicts.

    ``fresh`` is the hashed long table of today's images, ``recorded`` this settings' record rows.
    """
    fresh_roles, recorded_roles = roles_of(fresh), roles_of(recorded)
    images = fresh.drop_duplicates("image_id")
    roles, conflicts = {}, []
    for _, members in images.groupby("group", sort=True):
        known = {recorded_roles[i] for i in members["image_id"] if i in recorded_roles}
        for image_id, label, group in zip(members["image_id"], members["label"], members["group"]):
            if image_id in recorded_roles:
                roles[image_id] = recorded_roles[image_id]
                if len(known) > 1:
                    conflicts.append((image_id, label, group, "kept", SPANS_SPLITS))
            elif len(known) > 1:
                conflicts.append((image_id, label, group, "left_out", LINKS_SPLITS))
            else:
                roles[image_id] = next(iter(known)) if known else fresh_roles[image_id]
    return roles, pd.DataFrame(conflicts, columns=CONFLICT_COLUMNS)


def long_table(images: pd.DataFrame, roles: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """One row per (image, fold) for the images that have roles."""
    kept = images[images["image_id"].isin(roles)]
    folds = len(next(iter(roles.values()))) if roles else 0
    return (
        pd.concat(
            [
                kept.assign(fold=fold, split=[roles[i][fold] for i in kept["image_id"]])
                for fold in range(folds)
            ],
            ignore_index=True,
        )
        if folds
        else kept.assign(fold=pd.Series(dtype=int), split=pd.Series(dtype=str))
    )


def updated_record(record: pd.DataFrame, key: str, table: pd.DataFrame) -> pd.DataFrame:
    """The record plus the rows of images it did not hold yet under ``key``; nothing is removed."""
    known = set(record.loc[record["settings"] == key, "image_id"])
    new_rows = table[~table["image_id"].isin(known)].assign(settings=key)[RECORD_COLUMNS]
    return pd.concat([record, new_rows], ignore_index=True) if len(new_rows) else record
