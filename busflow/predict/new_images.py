"""New, unlabelled images to predict: which files they are, and their pixels as training saw them.

A source is an image file, a folder (every file under it that is not hidden), or a CSV with a
``path`` column (paths relative to the CSV's folder, or absolute; an optional ``image_id``
column names the rows). Each file goes through the checks and decoding of training images
(busflow.data.images, busflow.data.scan) and the same data.preprocess; a file that fails is kept as
a row with its reason, never dropped. A file named twice (or by two paths) is listed once.
"""

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from busflow.data.duplicates import image_fingerprint
from busflow.data.formats import format_of
from busflow.data.images import (
    HIGH_BIT_DEPTH,
    HIGH_BIT_DEPTH_MODES,
    check_supported_format,
    decode_image,
)
from busflow.data.label_csv import annotations, is_csv
from busflow.data.regions import (
    WHOLE,
    Region,
    RegionError,
    RegionSources,
    RoiRule,
    find_region,
    square_input,
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
    """(image_id, path) of every file the sources name, in order, each file once (once_each);
    ids are made unique."""
    return unique_ids(once_each(listing(sources))[0])


def listing(sources, skip=None) -> list[tuple[str, str]]:
    """(image_id, path) of every entry the sources name, in order, repeats included."""
    listed = []
    for source in sources:
        listed += list_source(Path(source), skip)
    return listed


def list_source(source: Path, skip=None) -> list[tuple[str, str]]:
    """A folder or a CSV as its data format lists it (busflow.data.formats), else one file. A
    folder's listing leaves out ``skip`` (the table this run writes there: an earlier run's
    would be a failed image row). Raises ConfigError naming a source that does not exist."""
    if source.is_dir():
        return skipped(source, format_of(source).unlabelled(source), skip)
    if is_csv(source) and source.is_file():
        return format_of(source).unlabelled(source)
    if source.exists() or source.is_symlink():
        return [(source.name, str(source))]
    raise ConfigError(f"{source}: no such file or folder. Name image files, folders or a CSV.")


def skipped(folder: Path, listed: list[tuple[str, str]], skip) -> list[tuple[str, str]]:
    if skip is None:
        return listed
    written = os.path.realpath(skip)
    kept = [(image_id, path) for image_id, path in listed if os.path.realpath(path) != written]
    if not kept:
        raise ConfigError(
            f"{folder}: the folder holds no files to predict but {skip}, the table this command "
            "writes. Put the images in it, or name the image files or a CSV instead."
        )
    return kept


def entry_key(path) -> str:
    """One name per directory entry: the folders above it resolved (dir/../dir/x, a linked
    folder), the file's own name kept, so that two links to one image stay two images."""
    absolute = os.path.abspath(path)
    return os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))


def once_each(listed: list[tuple[str, str]]) -> tuple[list, list]:
    """(kept, repeated): each file under its first name; the later entries that name a file
    already listed (given twice, by another path, or as a file and within its folder)."""
    seen, kept, repeated = set(), [], []
    for image_id, path in listed:
        key = entry_key(path)
        (repeated if key in seen else kept).append((image_id, path))
        seen.add(key)
    return kept, repeated


def unique_ids(listed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Two files with one id (x.png in two folders given side by side) get their paths as ids."""
    counts = pd.Series([image_id for image_id, _ in listed]).value_counts()
    return [(path if counts[image_id] > 1 else image_id, path) for image_id, path in listed]


def read_new_image(image_id: str, path: str, max_pixels: int | None) -> NewImage:
    """Decode and check one file as the manifest checks a training image; a link that leads to
    no file fails with what it is (link_problem), not with its name's extension."""
    image = NewImage(image_id, path)
    image.reason = link_problem(path)
    if image.reason:
        return image
    try:
        check_supported_format(path)
        grey, mode = decode_image(path, max_pixels)
        check_not_blank(path, grey)
    except BadImageError as error:
        image.reason = error.reason
        return image
    image.grey = grey
    image.warnings += bit_depth_warning(mode)
    image.fingerprint = image_fingerprint(grey)
    return image


def bit_depth_warning(mode: str) -> list[str]:
    """The warning for a file of more than 8 bits per pixel (Pillow ``mode``), none for others:
    its pixels are not what an 8-bit reader (the export README's plain recipe) would see."""
    if mode not in HIGH_BIT_DEPTH_MODES:
        return []
    return [
        f"a {HIGH_BIT_DEPTH_MODES[mode]} file (Pillow mode {mode}), stretched to 8 bits: "
        f"{HIGH_BIT_DEPTH}, as busflow reads every such file, training's too"
    ]


def link_problem(path: str) -> str:
    """Why the symbolic link ``path`` leads to no image: a loop (links that lead back to each
    other, or a link to a folder above it, which a folder listing lists as an entry), a broken
    link, or a link to a folder; "" for a file or a link to one."""
    if not os.path.islink(path):
        return ""
    target = os.readlink(path)
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return (
                f"a symlink loop (it points at {target}, which leads back to it); fix or remove it"
            )
        return f"a broken link (its target {target} does not exist); fix or remove it"
    if not os.path.isdir(path):
        return ""
    above = os.path.realpath(path)
    here = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    if here == above or here.startswith(above.rstrip(os.sep) + os.sep):
        return f"a symlink loop (it points at {target}, a folder that holds it); fix or remove it"
    return (
        f"a link to a folder ({target}), which is not followed: name that folder itself to "
        "predict its images"
    )


def model_pixels(image: NewImage, size: int, preprocess, rule: RoiRule) -> np.ndarray:
    """(size, size, 1) uint8: the lesion region (data.roi), data.preprocess at full size, then
    the square resize of training."""
    return square_input(image.grey, size, preprocess, image.region, rule)[:, :, None]


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


def locate_regions(images, rule: RoiRule, listed: dict, masks_folder, whole_image: bool) -> None:
    """Give each decoded image its region under a model's rule (as the manifest finds training
    images' regions, busflow.data.regions); ``listed``: csv_annotations of the sources, read
    once. One without a region fails with the fix, unless ``whole_image``: then it is
    predicted whole, with a warning. A bad mask fails its row."""
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
