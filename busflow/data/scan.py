"""Scanning a folder of class sub-folders: each file decoded once into a manifest row, bad files
named (or listed, under ``on_bad_image: skip``)."""

from pathlib import Path

import pandas as pd

from busflow.data.duplicates import image_fingerprint
from busflow.data.images import DEFAULT_MAX_PIXELS, check_supported_format, decode_image
from busflow.data.layout import LayoutRules, check_layout, list_candidate_files
from busflow.errors import BadImageError, DatasetLayoutError
from busflow.hashing import file_sha256

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
