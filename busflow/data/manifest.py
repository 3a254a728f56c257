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
from busflow.config.sites import sites_of
from busflow.data.duplicates import group_duplicates
from busflow.data.formats import scan_source
from busflow.data.lesions import attach_regions, check_masks_have_images, region_table
from busflow.data.patients import check_patients_within_sites, patient_groups
from busflow.data.regions import REGION_COLUMNS, RoiRule
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
    "patient",
    *REGION_COLUMNS,
]


def find_label_conflicts(manifest: pd.DataFrame) -> pd.DataFrame:
    """Rows whose duplicate group holds more than one label: the same picture filed twice."""
    labels_per_group = manifest.groupby("group")["label"].nunique()
    conflicted = labels_per_group[labels_per_group > 1].index
    rows = manifest[manifest["group"].isin(conflicted)]
    return rows[["group", "image_id", "label", "path"]].sort_values(["group", "image_id"])


def scan_sites(data_cfg: DataSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every site's images, one table (busflow.data.sites), each site read in its format
    (busflow.data.formats) with its lesion regions (busflow.data.lesions): with several sites
    each image id starts with its site's name, so two hospitals' ``benign/case001`` stay two
    images."""
    rule = RoiRule.of(data_cfg)
    tables, rejected = [], []
    for site in sites_of(data_cfg.as_dict()):
        setting = f"data.raw ({site.name})" if site.name else "data.raw"
        images, bad = scan_source(site.path, data_cfg, setting)
        if rule.used:
            check_masks_have_images([*images["path"], *bad["path"]], site.masks)
        images, dropped = attach_regions(images, rule, site.masks, setting)
        if site.name:
            images["image_id"] = site.name + "/" + images["image_id"]
        tables.append(images.assign(site=site.name or Path(site.path).name))
        rejected += [bad, dropped]
    images = pd.concat(tables, ignore_index=True)
    images["patient"] = images["patient"].fillna("") if "patient" in images else ""
    return images, pd.concat(rejected, ignore_index=True)


def build_manifest(raw_dir, data_cfg: dict) -> dict[str, pd.DataFrame]:
    """Everything the manifest rule writes: manifest, rejected, duplicates, conflicts and regions
    tables.
    ``raw_dir`` is data.raw: one folder, or a list of ``{name, path}`` sites (duplicates and label
    conflicts are then found across sites too)."""
    data_cfg = DataSettings.of({**DataSettings.of(data_cfg).as_dict(), "raw": raw_dir})
    images, rejected = scan_sites(data_cfg)
    images = images.sort_values("image_id", ignore_index=True)
    check_patients_within_sites(images)
    groups, duplicates = group_duplicates(images, data_cfg.near_duplicate_distance)
    images["group"] = groups
    conflicts = find_label_conflicts(images)  # duplicate groups: one picture, two labels
    images["group"] = patient_groups(images)
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
        "regions": region_table(images, rejected),
    }
