"""External validation sets: other labelled images that the trained models are tested on, untouched.

A set is in one of busflow.data.formats' formats: a folder laid out like data.raw (one sub-folder
per class) or a CSV with columns ``path,label`` (paths relative to the CSV's folder, or absolute).
Images that are (near-)duplicates of an image the models were trained on are flagged
``in_training`` and left out of the metrics: a second hospital's set that shares pictures with the
first would flatter the models.
"""

import numpy as np
import pandas as pd

from busflow.config.sections import DataSettings
from busflow.data.duplicates import (
    both_orientations,
    group_duplicates,
    hash_matrix,
    window_distances,
)
from busflow.data.formats import scan_source
from busflow.data.lesions import attach_regions, check_masks_have_images
from busflow.data.patients import patient_groups
from busflow.data.regions import REGION_COLUMNS, RoiRule

# The config key the errors about a set's files name.
EXTERNAL_SETTING = "external: (this set's path)"
EXTERNAL_COLUMNS = [
    "image_id",
    "path",
    "label",
    "phash",
    "in_training",
    "training_match",
    "group",
    "patient",
    *REGION_COLUMNS,
]


def flag_training_overlap(
    external: pd.DataFrame, training: pd.DataFrame, max_distance: int
) -> pd.DataFrame:
    """in_training: the image is a near duplicate of a training-manifest image (the manifest's
    test: a window hash within max_distance bits, see busflow.data.duplicates), or of its
    left-right mirror. ``external`` needs image_fingerprint's mirror_hashes, ``training`` only
    window_hashes (a manifest or an export's training_hashes.csv)."""
    train_hashes = hash_matrix(training["window_hashes"])
    matches = []
    for hashes in both_orientations(external):
        distances = window_distances(hashes, train_hashes)
        nearest = int(np.argmin(distances)) if len(distances) else -1
        matches.append(
            training["image_id"].iloc[nearest]
            if nearest >= 0 and distances[nearest] <= max_distance
            else ""
        )
    flagged = external.copy()
    flagged["training_match"] = matches
    flagged["in_training"] = flagged["training_match"] != ""
    return flagged


def build_external_manifest(
    source, data_cfg: dict, training_manifest: pd.DataFrame, masks=None
) -> dict[str, pd.DataFrame]:
    """manifest (every readable image, flagged, with its lesion region under data.roi and its
    group: duplicates and patients, the unit its CIs resample) and rejected tables of one
    external set; ``masks``: the set's mask folder."""
    data_cfg = DataSettings.of(data_cfg)
    rule = RoiRule.of(data_cfg)
    images, rejected = scan_source(source, data_cfg, EXTERNAL_SETTING)
    if rule.used:
        check_masks_have_images([*images["path"], *rejected["path"]], masks)
    images, dropped = attach_regions(images, rule, masks, EXTERNAL_SETTING)
    images = images.sort_values("image_id", ignore_index=True)
    images["patient"] = images["patient"].fillna("") if "patient" in images else ""
    images["group"], _ = group_duplicates(images, data_cfg.near_duplicate_distance)
    images["group"] = patient_groups(images)
    images = flag_training_overlap(images, training_manifest, data_cfg.near_duplicate_distance)
    return {
        "manifest": images[EXTERNAL_COLUMNS],
        "rejected": pd.concat([rejected, dropped], ignore_index=True),
    }
