"""The manifest: every usable image of the raw folder, decoded once, with its label and duplicate
group.

The raw folder's layout rules are in busflow.layout, duplicate grouping in busflow.duplicates.
A file that is not a usable image (corrupt, unsupported, too large, blank, or sharing its
image_id with another file) is an error that names the file, unless ``on_bad_image: skip`` lists
it in ``qc/rejected.csv``.
"""

from pathlib import Path

import pandas as pd

from busflow.config_types import DataSettings
from busflow.duplicates import group_duplicates, image_fingerprint
from busflow.errors import BadImageError, DatasetLayoutError
from busflow.hashing import file_sha256
from busflow.images import DEFAULT_MAX_PIXELS, check_supported_format, decode_image
from busflow.layout import LayoutRules, check_layout, list_candidate_files
from busflow.sites import sites_of

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
REJECTED_COLUMNS = ["path", "reason"]


def describe_image(
    path: Path, label: str, raw_dir: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> dict:
    """One manifest row; decodes the file once. Raises BadImageError naming the file."""
    check_supported_format(path)
    grey, mode = decode_image(path, max_pixels)
    check_not_blank(path, grey)
    relative = path.relative_to(raw_dir)
    return {
        "image_id": str(relative.with_suffix("")),
        "path": str(path),
        "label": label,
        "sha256": file_sha256(path),
        "width": grey.shape[1],
        "height": grey.shape[0],
        "mode": mode,
        **image_fingerprint(grey),
    }


def check_not_blank(path, grey) -> None:
    """A blank image (one value everywhere) shows nothing, and every blank image has the same
    perceptual hash: left in, unrelated blank files would become one duplicate group."""
    if grey.min() == grey.max():
        raise BadImageError(path, f"the image is blank (every pixel is {int(grey.min())})")


def scan_images(
    raw_dir,
    rules: LayoutRules,
    on_bad_image: str = "error",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    setting: str = "data.raw",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decode every candidate image; returns (rows, rejected). ``on_bad_image`` is error or skip."""
    raw = Path(raw_dir)
    check_layout(raw, rules, setting)
    rows, rejected = [], []
    for path in list_candidate_files(raw, rules):
        try:
            rows.append(describe_image(path, path.parent.name, raw, max_pixels))
        except BadImageError as error:
            if on_bad_image != "skip":
                raise
            rejected.append({"path": str(path), "reason": error.reason})
    rows, rejected = drop_shared_ids(rows, rejected, on_bad_image)
    check_every_class_kept(raw, rules, rows, rejected)
    return pd.DataFrame(rows), pd.DataFrame(rejected, columns=REJECTED_COLUMNS)


def drop_shared_ids(
    rows: list[dict], rejected: list[dict], on_bad_image: str
) -> tuple[list[dict], list[dict]]:
    """Files that differ only in extension (x.png, x.jpg) would share one image_id: an error, or
    under skip all of them are rejected (which one is the real one is not busflow's guess)."""
    paths_of = {}
    for row in rows:
        paths_of.setdefault(row["image_id"], []).append(row["path"])
    shared = {image_id: paths for image_id, paths in paths_of.items() if len(paths) > 1}
    for image_id, paths in shared.items():
        reason = (
            f"{len(paths)} files share the image_id '{image_id}' ({', '.join(paths)}): "
            "rename all but one"
        )
        if on_bad_image != "skip":
            raise BadImageError(paths[0], reason)
        rejected += [{"path": path, "reason": reason} for path in paths]
    return [row for row in rows if row["image_id"] not in shared], rejected


def check_every_class_kept(
    raw: Path, rules: LayoutRules, rows: list[dict], rejected: list[dict]
) -> None:
    for label in rules.classes:
        if not any(row["label"] == label for row in rows):
            # The job stops here, so qc/rejected.csv is never written:
            # the reasons go in the message.
            reasons = [
                f"{r['path']} ({r['reason']})"
                for r in rejected
                if Path(r["path"]).parent.name == label
            ]
            raise DatasetLayoutError(
                f"{raw / label}: no readable image left in this class; data.on_bad_image: "
                f"skip rejected {len(reasons)}: "
                + "; ".join(reasons[:5])
                + (" ..." if len(reasons) > 5 else "")
                + ". Replace or fix these files."
            )


def find_label_conflicts(manifest: pd.DataFrame) -> pd.DataFrame:
    """Rows whose duplicate group holds more than one label: the same picture filed twice."""
    labels_per_group = manifest.groupby("group")["label"].nunique()
    conflicted = labels_per_group[labels_per_group > 1].index
    rows = manifest[manifest["group"].isin(conflicted)]
    return rows[["group", "image_id", "label", "path"]].sort_values(["group", "image_id"])


def scan_sites(raw, data_cfg: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every site's images, one table (busflow.sites): with several sites each image id starts with
    its site's name, so two hospitals' ``benign/case001`` stay two images."""
    data_cfg = DataSettings.of(data_cfg)
    rules = LayoutRules.from_config(data_cfg)
    sites = sites_of({"raw": raw})
    tables, rejected = [], []
    for site in sites:
        setting = f"data.raw ({site.name})" if site.name else "data.raw"
        images, bad = scan_images(
            site.path, rules, data_cfg.on_bad_image, data_cfg.max_image_pixels, setting
        )
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
