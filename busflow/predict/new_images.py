"""New, unlabelled images to predict: which files they are, and their pixels as training saw them.

A source is an image file, a folder (every file under it that is not hidden), or a CSV with a
``path`` column (paths relative to the CSV's folder, or absolute; an optional ``image_id``
column names the rows). Each file goes through the checks and decoding of training images
(busflow.data.images, busflow.data.scan) and the same data.preprocess; a file that fails is kept as
a row with its reason, never dropped.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from busflow.data.duplicates import image_fingerprint
from busflow.data.formats import format_of
from busflow.data.images import check_supported_format, decode_image, resize_square
from busflow.data.label_csv import annotations, is_csv
from busflow.data.regions import (
    WHOLE,
    Region,
    RegionError,
    RegionSources,
    RoiRule,
    find_region,
    region_pixels,
)
from busflow.data.scan import check_not_blank
from busflow.errors import BadImageError, ConfigError


@dataclass
class NewImage:
    """One file to predict; ``grey`` is its full-size decoded pixels (None when it failed)."""

    image_id: str
    path: str
    grey: np.ndarray | None = None
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    fingerprint: dict = field(default_factory=dict)
    region: Region | None = None

    @property
    def ok(self) -> bool:
        return self.grey is not None


def gather(sources) -> list[tuple[str, str]]:
    """(image_id, path) of every file the sources name, in order; ids are made unique."""
    listed = []
    for source in sources:
        listed += list_source(Path(source))
    return unique_ids(listed)


def list_source(source: Path) -> list[tuple[str, str]]:
    """A folder or a CSV as its data format lists it (busflow.data.formats), else one file."""
    if source.is_dir() or (is_csv(source) and source.is_file()):
        return format_of(source).unlabelled(source)
    if source.exists() or source.is_symlink():
        return [(source.name, str(source))]
    raise ConfigError(f"{source}: no such file or folder. Name image files, folders or a CSV.")


def unique_ids(listed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Two files with one id (x.png in two folders given side by side) get their paths as ids."""
    counts = pd.Series([image_id for image_id, _ in listed]).value_counts()
    return [(path if counts[image_id] > 1 else image_id, path) for image_id, path in listed]


def read_new_image(image_id: str, path: str, max_pixels: int | None) -> NewImage:
    """Decode and check one file as the manifest checks a training image."""
    image = NewImage(image_id, path)
    try:
        check_supported_format(path)
        grey, _ = decode_image(path, max_pixels)
        check_not_blank(path, grey)
    except BadImageError as error:
        image.reason = error.reason
        return image
    image.grey = grey
    image.fingerprint = image_fingerprint(grey)
    return image


def model_pixels(image: NewImage, size: int, preprocess, rule: RoiRule) -> np.ndarray:
    """(size, size, 1) uint8: the lesion region (data.roi), data.preprocess at full size, then
    the square resize of training."""
    return resize_square(region_pixels(image.grey, image.region, rule, preprocess), size)[
        :, :, None
    ]


def csv_annotations(sources) -> dict[str, RegionSources]:
    """Each CSV row's listed masks or box, by the image's path (busflow.data.label_csv's
    columns: mask, bbox_x, bbox_y, bbox_w, bbox_h)."""
    found = {}
    for source in sources:
        if not (is_csv(source) and os.path.isfile(source)):
            continue
        table = pd.read_csv(source, dtype=str, keep_default_na=False)
        folder = Path(source).parent.resolve()
        for line in range(2, len(table) + 2):
            listed = annotations(table, line, source)
            path = os.path.normpath(folder / table["path"].iloc[line - 2])
            masks = tuple(m for m in listed["listed_masks"].split(";") if m)
            found[path] = RegionSources(
                masks, listed["listed_box"].split() or None, where=listed["listed_at"]
            )
    return found


def locate_regions(images, rule: RoiRule, sources, masks_folder, whole_image: bool) -> None:
    """Give each decoded image its region under a model's rule (as the manifest finds training
    images' regions, busflow.data.regions). One without a region fails with the fix, unless
    ``whole_image``: then it is predicted whole, with a warning. A bad mask fails its row."""
    listed = csv_annotations(sources)
    for image in images:
        if not image.ok:
            continue
        given = listed.get(os.path.normpath(image.path), RegionSources())
        given = RegionSources(given.listed_masks, given.box, masks_folder, given.where)
        height, width = image.grey.shape
        try:
            image.region = find_region(image.path, "", width, height, given, rule)
        except RegionError as error:
            image.grey, image.reason = None, str(error)
            continue
        if image.region is None and whole_image:
            image.region = WHOLE
            image.warnings.append(
                "no lesion region: predicted from the whole image, which the model (trained on "
                f"regions, data.roi: {rule.mode}) never saw"
            )
        elif image.region is None:
            image.grey = None
            image.reason = (
                f"no lesion region: the model was trained on lesion regions (data.roi: "
                f"{rule.mode}). Give a mask (<name>_mask.png beside it, --masks FOLDER, or a "
                "CSV mask / bbox_x,bbox_y,bbox_w,bbox_h column), or ask for --whole-image"
            )


def size_warning(image: NewImage, size: int) -> str:
    height, width = image.grey.shape
    if min(height, width) < size:
        return (
            f"{width} x {height} pixels, smaller than the model input ({size} x {size}): upscaled"
        )
    return ""


def listed_files(source) -> list[str]:
    """What the predict rule reads (lenient, for planning): the files a source names that exist,
    and the CSV itself; a source that cannot be listed gives none (the job then names it)."""
    try:
        listed = gather([source])
    except (ConfigError, OSError, pd.errors.ParserError):
        listed = []
    files = [path for _, path in listed if os.path.exists(path)]
    return ([str(source)] if is_csv(source) and os.path.isfile(source) else []) + files
