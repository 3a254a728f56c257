"""The manifest: every usable image of the raw folder, decoded once, with its label and duplicate group.

Layout of the raw folder: one sub-folder per class (``data.classes``); folders named in
``data.ignore_folders`` (BUSI's ``normal``) are skipped; files matching ``data.exclude_pattern``
(BUSI's ``*_mask*.png``) and hidden files are not images of the task. Anything else is an error
that names the file, unless ``on_bad_image: skip`` lists it in ``qc/rejected.csv``.
"""

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from busflow.errors import BadImageError, DatasetLayoutError
from busflow.hashing import file_sha256, hamming_distances, perceptual_hash, pixel_sha256
from busflow.images import IMAGE_EXTENSIONS, decode_image

MANIFEST_COLUMNS = [
    "image_id", "path", "label", "sha256", "width", "height", "group",
    "mode", "pixel_sha256", "phash", "conflict",
]


@dataclass(frozen=True)
class LayoutRules:
    classes: tuple[str, ...]
    ignore_folders: tuple[str, ...] = ()
    exclude_pattern: str = "*_mask*"

    @classmethod
    def from_config(cls, data_cfg: dict) -> "LayoutRules":
        return cls(
            classes=tuple(data_cfg["classes"]),
            ignore_folders=tuple(data_cfg.get("ignore_folders", ())),
            exclude_pattern=data_cfg.get("exclude_pattern", "*_mask*"),
        )

    def is_candidate(self, name: str) -> bool:
        return not name.startswith(".") and not fnmatch.fnmatch(name, self.exclude_pattern)


def list_candidate_files(raw_dir, rules: LayoutRules) -> list[Path]:
    """Files under the class folders that should be images; lenient (Snakemake calls it to plan)."""
    raw = Path(raw_dir)
    files = []
    for label in rules.classes:
        folder = raw / label
        if folder.is_dir():
            # A broken link is listed too: it must be reported, not silently skipped.
            files += sorted(p for p in folder.iterdir() if (p.is_file() or p.is_symlink()) and rules.is_candidate(p.name))
    return files


def check_layout(raw_dir, rules: LayoutRules) -> None:
    """Raise DatasetLayoutError naming the folder if the raw folder is not class sub-folders."""
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise DatasetLayoutError(
            f"{raw}: the raw image folder does not exist. Set data.raw in the config to a folder "
            f"with one sub-folder per class ({', '.join(rules.classes)})."
        )
    known = set(rules.classes) | set(rules.ignore_folders)
    for entry in sorted(raw.iterdir()):
        if entry.is_dir() and not entry.name.startswith(".") and entry.name not in known:
            raise DatasetLayoutError(
                f"{entry}: unknown folder '{entry.name}' in the raw folder. Add it to data.classes "
                f"(a class of the task) or data.ignore_folders (kept out of the task), or move it out."
            )
    for label in rules.classes:
        folder = raw / label
        if not folder.is_dir():
            raise DatasetLayoutError(
                f"{folder}: class folder missing. Every class in data.classes needs a sub-folder "
                f"of {raw} holding its images; fix data.classes or add the folder."
            )
        for entry in sorted(folder.iterdir()):
            if entry.is_dir() and not entry.name.startswith("."):
                raise DatasetLayoutError(
                    f"{entry}: sub-folders inside a class folder are not read. Move its images up "
                    f"into {folder} or out of the raw folder."
                )
        if not any(rules.is_candidate(p.name) for p in folder.iterdir() if p.is_file() or p.is_symlink()):
            raise DatasetLayoutError(
                f"{folder}: class folder holds no images (after excluding "
                f"'{rules.exclude_pattern}'). Add images or remove the class from data.classes."
            )


def describe_image(path: Path, label: str, raw_dir: Path) -> dict:
    """One manifest row; decodes the file once. Raises BadImageError naming the file."""
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise BadImageError(path, f"not an image (extension '{path.suffix}')")
    grey, mode = decode_image(path)
    relative = path.relative_to(raw_dir)
    return {
        "image_id": str(relative.with_suffix("")),
        "path": str(path),
        "label": label,
        "sha256": file_sha256(path),
        "width": grey.shape[1],
        "height": grey.shape[0],
        "mode": mode,
        "pixel_sha256": pixel_sha256(grey),
        "phash": f"{perceptual_hash(grey):016x}",
    }


def scan_images(raw_dir, rules: LayoutRules, on_bad_image: str = "error") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decode every candidate image; returns (rows, rejected). ``on_bad_image`` is error or skip."""
    raw = Path(raw_dir)
    check_layout(raw, rules)
    rows, rejected = [], []
    for path in list_candidate_files(raw, rules):
        try:
            rows.append(describe_image(path, path.parent.name, raw))
        except BadImageError as error:
            if on_bad_image != "skip":
                raise
            rejected.append({"path": str(path), "reason": error.reason})
    for label in rules.classes:
        if not any(row["label"] == label for row in rows):
            raise DatasetLayoutError(
                f"{raw / label}: no readable image left in this class (see results/qc/rejected.csv)."
            )
    return pd.DataFrame(rows), pd.DataFrame(rejected, columns=["path", "reason"])


def group_duplicates(images: pd.DataFrame, max_distance: int) -> tuple[pd.Series, pd.DataFrame]:
    """Union exact (same pixels) and near duplicates (pHash distance <= max_distance) into groups.

    Equal pixels give equal hashes, so exact duplicates are found by the same distance test.
    Returns the group key per row (the smallest image_id of its group, so keys do not depend on
    row order) and the pairs that were linked, for qc/duplicates.csv.
    """
    ids = images["image_id"].tolist()
    parent = list(range(len(ids)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    hashes = np.array([int(h, 16) for h in images["phash"]], dtype=np.uint64)
    pixels = images["pixel_sha256"].tolist()
    pairs = []
    for i in range(len(ids)):
        distances = hamming_distances(int(hashes[i]), hashes[i + 1 :])
        for offset in np.flatnonzero(distances <= max_distance):
            j = i + 1 + int(offset)
            kind = "exact" if pixels[i] == pixels[j] else "near"
            pairs.append((ids[i], ids[j], kind, int(distances[offset])))
            parent[find(j)] = find(i)
    roots = [find(i) for i in range(len(ids))]
    key_of_root = {}
    for root, image_id in zip(roots, ids):
        key_of_root[root] = min(key_of_root.get(root, image_id), image_id)
    groups = pd.Series([key_of_root[r] for r in roots], index=images.index, name="group")
    duplicate_pairs = pd.DataFrame(pairs, columns=["image_id", "duplicate_of", "kind", "phash_distance"])
    return groups, duplicate_pairs


def find_label_conflicts(manifest: pd.DataFrame) -> pd.DataFrame:
    """Rows whose duplicate group holds more than one label: the same picture filed twice."""
    labels_per_group = manifest.groupby("group")["label"].nunique()
    conflicted = labels_per_group[labels_per_group > 1].index
    rows = manifest[manifest["group"].isin(conflicted)]
    return rows[["group", "image_id", "label", "path"]].sort_values(["group", "image_id"])


def build_manifest(raw_dir, data_cfg: dict) -> dict[str, pd.DataFrame]:
    """Everything the manifest rule writes: manifest, rejected, duplicates and conflicts tables."""
    rules = LayoutRules.from_config(data_cfg)
    images, rejected = scan_images(raw_dir, rules, data_cfg.get("on_bad_image", "error"))
    images = images.sort_values("image_id", ignore_index=True)
    groups, duplicates = group_duplicates(images, data_cfg.get("near_duplicate_distance", 4))
    images["group"] = groups
    conflicts = find_label_conflicts(images)
    if len(conflicts) and data_cfg.get("on_label_conflict", "drop") == "error":
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
