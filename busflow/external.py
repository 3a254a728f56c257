"""External validation sets: other labelled images that the trained models are tested on, untouched.

A set is a folder laid out like data.raw (one sub-folder per class) or a CSV with columns
``path,label`` (paths relative to the CSV's folder, or absolute). Images that are (near-)duplicates
of an image the models were trained on are flagged ``in_training`` and left out of the metrics:
a second hospital's set that shares pictures with the first would flatter the models.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from busflow.config_types import DataSettings
from busflow.duplicates import hash_matrix, window_distances
from busflow.errors import ConfigError
from busflow.image_scan import scan_images
from busflow.label_csv import is_csv, read_label_csv, scan_csv
from busflow.layout import LayoutRules, readable_candidate_files

EXTERNAL_COLUMNS = ["image_id", "path", "label", "phash", "in_training", "training_match"]


def candidate_files(source, data_cfg: dict) -> list[str]:
    """What the manifest rule reads (lenient, for planning): the folder's
    images, or the CSV and its images."""
    if is_csv(source):
        if not Path(source).is_file():
            return [str(source)]
        try:
            listed = read_label_csv(
                source, allow_outside=data_cfg.get("csv_paths_outside_folder", False)
            )["path"]
        except ConfigError:
            listed = []
        return [str(source), *sorted(p for p in listed if Path(p).exists())]
    return [str(p) for p in readable_candidate_files(source, LayoutRules.from_config(data_cfg))]


def flag_training_overlap(
    external: pd.DataFrame, training: pd.DataFrame, max_distance: int
) -> pd.DataFrame:
    """in_training: the image is a near duplicate of a training-manifest image (the manifest's
    test: a window hash within max_distance bits, see busflow.duplicates)."""
    train_hashes = hash_matrix(training["window_hashes"])
    matches = []
    for hashes in hash_matrix(external["window_hashes"]):
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
    source, data_cfg: dict, training_manifest: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """manifest (every readable image, flagged) and rejected tables of one external set."""
    data_cfg = DataSettings.of(data_cfg)
    classes, on_bad, max_pixels = (
        list(data_cfg.classes),
        data_cfg.on_bad_image,
        data_cfg.max_image_pixels,
    )
    if is_csv(source):
        images, rejected = scan_csv(
            source, classes, on_bad, max_pixels, allow_outside=data_cfg.csv_paths_outside_folder
        )
    else:
        setting = "the path of this set under external:"
        images, rejected = scan_images(
            source, LayoutRules.from_config(data_cfg), on_bad, max_pixels, setting
        )
    images = flag_training_overlap(images, training_manifest, data_cfg.near_duplicate_distance)
    return {
        "manifest": images[EXTERNAL_COLUMNS].sort_values("image_id", ignore_index=True),
        "rejected": rejected,
    }
