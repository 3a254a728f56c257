"""The manifest's lesion regions: each image's region found once (busflow.data.regions), images
without one handled by ``data.roi_missing``, masks that belong to no image refused, and the QC
table ``results/qc/regions.csv``."""

from pathlib import Path

import pandas as pd

from busflow.data.images import IMAGE_EXTENSIONS
from busflow.data.regions import (
    REGION_COLUMNS,
    RegionError,
    RegionSources,
    RoiRule,
    find_region,
    is_mask_name_of,
    mask_stem,
    missing_region,
)

# Columns the scan of a CSV adds (busflow.data.label_csv.annotations); a folder has none.
LISTED = ("listed_masks", "listed_box", "listed_at")
DROPPED_REASON = "no lesion region (data.roi_missing: drop)"


def sources_of(row, masks_folder) -> RegionSources:
    masks = tuple(m for m in str(row.get("listed_masks", "") or "").split(";") if m)
    box = str(row.get("listed_box", "") or "").split() or None
    return RegionSources(masks, box, masks_folder, str(row.get("listed_at", "") or row["path"]))


def attach_regions(
    images: pd.DataFrame, rule: RoiRule, masks_folder=None, setting: str = "data.raw"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(images with REGION_COLUMNS, rows dropped for want of a region as rejected rows). Under
    data.roi: none the columns are empty and nothing is read."""
    listed = [c for c in LISTED if c in images]
    if not rule.used or images.empty:
        empty = pd.DataFrame(columns=["path", "reason"])
        return images.drop(columns=listed).assign(**dict.fromkeys(REGION_COLUMNS, "")), empty
    columns, keep = [], []
    for _, row in images.iterrows():
        region = find_region(
            row["path"],
            row["label"],
            int(row["width"]),
            int(row["height"]),
            sources_of(row, masks_folder),
            rule,
        ) or missing_region(row["path"], rule, setting)
        keep.append(region is not None)
        columns.append(region.columns() if region else dict.fromkeys(REGION_COLUMNS, ""))
    regions = pd.DataFrame(columns, index=images.index)
    images = pd.concat([images.drop(columns=listed), regions], axis=1)
    dropped = images.loc[[not k for k in keep], ["path"]].assign(reason=DROPPED_REASON)
    return images[keep], dropped


def check_masks_have_images(candidates: list[str], masks_folder=None) -> None:
    """A mask whose image is not there (beside it, or in the mask folder) means a renamed or lost
    image, or a mask of another set: RegionError naming it. ``candidates``: every image file of
    the source on disk (decoded or rejected)."""
    stems = {(str(Path(p).parent), Path(p).stem) for p in candidates}
    folders = {folder for folder, _ in stems}
    for folder in sorted(folders):
        for mask in sorted(Path(folder).iterdir()):
            stem = mask_stem(mask.name)
            if stem is not None and (folder, stem) not in stems and is_image_name(mask.name):
                raise_orphan(mask, f"an image '{stem}.*' beside it")
    if masks_folder and Path(masks_folder).is_dir():
        names = {stem for _, stem in stems}
        for mask in sorted(p for p in Path(masks_folder).rglob("*") if p.is_file()):
            if is_image_name(mask.name) and not any(is_mask_name_of(mask.name, s) for s in names):
                raise_orphan(
                    mask, f"an image named like it among the images of {masks_folder}'s set"
                )


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS and not name.startswith(".")


def raise_orphan(mask: Path, wanted: str) -> None:
    raise RegionError(
        f"{mask}: a lesion mask with no image: there is no {wanted}. Its image was renamed, "
        "moved or removed, or the mask belongs to another set: restore the image, or remove "
        "the mask."
    )


def region_table(manifest: pd.DataFrame, rejected: pd.DataFrame) -> pd.DataFrame:
    """results/qc/regions.csv: each image's region source and box, and the images dropped for
    want of one (roi_missing: drop)."""
    kept = manifest[["image_id", "site", "label", *REGION_COLUMNS]].assign(status="used")
    kept.loc[kept["roi_source"] == "whole", "status"] = "whole image (data.roi_missing: whole)"
    gone = rejected[rejected["reason"] == DROPPED_REASON]
    lost = pd.DataFrame({"image_id": "", "path": gone["path"], "status": DROPPED_REASON})
    return pd.concat([kept.assign(path=""), lost], ignore_index=True)[
        ["image_id", "path", "site", "label", *REGION_COLUMNS, "status"]
    ]


def mask_files(source, data_cfg, masks_folder=None) -> list[str]:
    """Planning (lenient): the mask files the manifest reads for ``source`` under data.roi, so
    that adding, changing or removing a mask re-runs it; nothing under data.roi: none."""
    from busflow.data.formats import candidate_files

    if not RoiRule.of(data_cfg).used:
        return []
    files = set()
    for path in candidate_files(source, data_cfg):
        if path.lower().endswith(".csv"):
            files |= set(listed_mask_files(path))
    for folder in {str(Path(p).parent) for p in candidate_files(source, data_cfg)}:
        files |= {str(p) for p in Path(folder).iterdir() if mask_stem(p.name) is not None}
    if masks_folder and Path(masks_folder).is_dir():
        files |= {str(p) for p in Path(masks_folder).rglob("*") if is_image_name(p.name)}
    return sorted(f for f in files if Path(f).is_file())


def listed_mask_files(csv_path) -> list[str]:
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    if "mask" not in table:
        return []
    folder = Path(csv_path).parent
    return [str(folder / m.strip()) for cell in table["mask"] for m in cell.split(";") if m.strip()]
