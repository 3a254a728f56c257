"""The manifest: every usable image of the raw folder, decoded once, with its label and duplicate
group.

The raw folder's layout rules are in busflow.data.layout, duplicate grouping in
busflow.data.duplicates.
A file that is not a usable image (corrupt, unsupported, too large, blank, or sharing its
image_id with another file) is an error that names the file, unless ``on_bad_image: skip`` lists
it in ``qc/rejected.csv``.
"""

from pathlib import Path

import pandas as pd

from busflow.config.sections import DataSettings
from busflow.data.duplicates import group_duplicates
from busflow.data.formats import scan_source
from busflow.data.sites import sites_of
from busflow.errors import DatasetLayoutError

MANIFEST_COLUMNS = [
    "image_id",
    "path",
    "label",
    "sha256",
    "width",
    "height",
    "group",
    "mode",
    "pixel_sha256",
    "phash",
    "conflict",
    "window_hashes",
    "site",
]


def find_label_conflicts(manifest: pd.DataFrame) -> pd.DataFrame:
    """Rows whose duplicate group holds more than one label: the same picture filed twice."""
    labels_per_group = manifest.groupby("group")["label"].nunique()
    conflicted = labels_per_group[labels_per_group > 1].index
    rows = manifest[manifest["group"].isin(conflicted)]
    return rows[["group", "image_id", "label", "path"]].sort_values(["group", "image_id"])


def scan_sites(raw, data_cfg: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every site's images, one table (busflow.data.sites), each site read in its format
    (busflow.data.formats): with several sites each image id starts with its site's name, so two
    hospitals' ``benign/case001`` stay two images."""
    sites = sites_of({"raw": raw})
    tables, rejected = [], []
    for site in sites:
        setting = f"data.raw ({site.name})" if site.name else "data.raw"
        images, bad = scan_source(site.path, data_cfg, setting)
        if site.name:
            images["image_id"] = site.name + "/" + images["image_id"]
        tables.append(images.assign(site=site.name or Path(site.path).name))
        rejected.append(bad)
    return pd.concat(tables, ignore_index=True), pd.concat(rejected, ignore_index=True)


def build_manifest(raw_dir, data_cfg: dict) -> dict[str, pd.DataFrame]:
    """Everything the manifest rule writes: manifest, rejected, duplicates and conflicts tables.
    ``raw_dir`` is data.raw: one folder, or a list of ``{name, path}`` sites (duplicates and label
    conflicts are then found across sites too)."""
    data_cfg = DataSettings.of(data_cfg)
    images, rejected = scan_sites(raw_dir, data_cfg)
    images = images.sort_values("image_id", ignore_index=True)
    groups, duplicates = group_duplicates(images, data_cfg.near_duplicate_distance)
    images["group"] = groups
    conflicts = find_label_conflicts(images)
    if len(conflicts) and data_cfg.on_label_conflict == "error":
        raise DatasetLayoutError(
            "the same image is filed under two labels: "
            + "; ".join(conflicts["path"].tolist())
            + ". Remove the wrong copy, or set data.on_label_conflict: drop."
        )
    images["conflict"] = images["image_id"].isin(conflicts["image_id"])
    return {
        "manifest": images[MANIFEST_COLUMNS],
        "rejected": rejected,
        "duplicates": duplicates,
        "conflicts": conflicts,
    }
