"""External validation sets: other labelled images that the trained models are tested on, untouched.

A set is a folder laid out like data.raw (one sub-folder per class) or a CSV with columns
``path,label`` (paths relative to the CSV's folder, or absolute). Images that are (near-)duplicates
of an image the models were trained on are flagged ``in_training`` and left out of the metrics:
a second hospital's set that shares pictures with the first would flatter the models.
"""

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from busflow.config_types import DataSettings
from busflow.duplicates import hash_matrix, window_distances
from busflow.errors import BadImageError, ConfigError
from busflow.images import DEFAULT_MAX_PIXELS
from busflow.layout import LayoutRules, readable_candidate_files
from busflow.manifest import describe_image, drop_shared_ids, scan_images

CSV_COLUMNS = ("path", "label")
EXTERNAL_COLUMNS = ["image_id", "path", "label", "phash", "in_training", "training_match"]


def is_csv(source) -> bool:
    return str(source).lower().endswith(".csv")


def read_label_csv(csv_path) -> pd.DataFrame:
    """The CSV's rows with paths made absolute; errors name the CSV (and row) and the fix."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise ConfigError(
            f"{csv_path}: external set CSV not found. Fix its path under external: in the config."
        )
    check_row_lengths(csv_path)
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, index_col=False)
    except pd.errors.EmptyDataError:
        raise ConfigError(
            f"{csv_path}: the file is empty. An external CSV needs a header 'path,label' and one "
            f"image per row."
        ) from None
    missing = [c for c in CSV_COLUMNS if c not in table.columns]
    if missing:
        raise ConfigError(
            f"{csv_path}: missing column(s) {', '.join(missing)}. An external CSV needs a header "
            f"'path,label' and one image per row."
        )
    if table.empty:
        raise ConfigError(
            f"{csv_path}: the CSV lists no images (only a header). Add one image per row as "
            f"path,label, or remove the set from external: in the config."
        )
    table["path"] = [
        str(p if Path(p).is_absolute() else csv_path.parent / p) for p in table["path"]
    ]
    return table


def check_row_lengths(csv_path: Path) -> None:
    """Every row has the header's number of fields; pandas would read an extra field as an index
    (shifting path into label) or fail with a ParserError that names neither file nor fix."""
    with open(csv_path, newline="") as handle:
        rows = csv.reader(handle)
        header = next(rows, [])
        for line, row in enumerate(rows, start=2):
            if row and len(row) != len(header):
                raise ConfigError(
                    f"{csv_path}, line {line}: not a CSV of the header's {len(header)} columns "
                    f"({len(row)} fields). Give one image per row as path,label; quote a path that "
                    f"holds a comma."
                )


def candidate_files(source, data_cfg: dict) -> list[str]:
    """What the manifest rule reads (lenient, for planning): the folder's
    images, or the CSV and its images."""
    if is_csv(source):
        if not Path(source).is_file():
            return [str(source)]
        try:
            listed = read_label_csv(source)["path"]
        except ConfigError:
            listed = []
        return [str(source), *sorted(p for p in listed if Path(p).exists())]
    return [str(p) for p in readable_candidate_files(source, LayoutRules.from_config(data_cfg))]


def scan_csv(
    csv_path, classes, on_bad_image: str, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = read_label_csv(csv_path)
    rows, rejected = [], []
    for line, (path, label) in enumerate(zip(table["path"], table["label"]), start=2):
        if label not in classes:
            raise ConfigError(
                f"{csv_path}, line {line}: label '{label}' is not one of data.classes "
                f"({', '.join(classes)}). Fix the label or data.classes."
            )
        try:
            row = describe_image(Path(path), label, Path(path).parent, max_pixels)
        except BadImageError as error:
            if on_bad_image != "skip":
                raise BadImageError(
                    path, f"{error.reason} (listed in {csv_path}, line {line})"
                ) from None
            rejected.append({"path": path, "reason": error.reason})
            continue
        row["image_id"] = (
            str(Path(path).relative_to(Path(csv_path).parent).with_suffix(""))
            if Path(path).is_relative_to(Path(csv_path).parent)
            else str(Path(path).with_suffix(""))
        )
        rows.append(row)
    rows, rejected = drop_shared_ids(rows, rejected, on_bad_image)
    if not rows:
        reasons = "; ".join(f"{r['path']} ({r['reason']})" for r in rejected[:5])
        raise ConfigError(
            f"{csv_path}: no readable image left; data.on_bad_image: skip "
            f"rejected {len(rejected)}: {reasons}. Fix these files, or remove the "
            "set from external: in the config."
        )
    return pd.DataFrame(rows), pd.DataFrame(rejected, columns=["path", "reason"])


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
        images, rejected = scan_csv(source, classes, on_bad, max_pixels)
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
