"""Lesion regions: the part of an image a model sees under ``data.roi``.

``data.roi`` is ``none`` (the whole image: the paper's input), ``box`` (the lesion's bounding box
grown by ``data.roi_margin`` of its width and height on each side, clamped to the image) or
``mask`` (the same crop with every pixel outside the expert's mask set to black: the model sees
the lesion alone, and with it the expert's outline). A region always comes from an expert: a
mask drawn on the image, or a box given with it. Nothing here finds a lesion by itself, so a model
trained on regions needs a region for every image it is given, at prediction time too.

Where an image's region comes from, first match wins (``find_region``):
1. a CSV's ``mask`` column: one mask file, or several separated by ';' (united), relative to
   the CSV;
2. a CSV's box columns ``bbox_x, bbox_y, bbox_w, bbox_h`` (pixels; BUS-BRA's names);
3. masks beside the image: ``<name>_mask.<ext>``, ``<name>_mask_<n>.<ext>`` (BUSI's layout;
   several are united);
4. a mask folder (``data.masks``, or a site's or external set's ``masks:``): files named
   ``<name>.<ext>`` or ``<name>_<anything>.<ext>``, in the folder or in its sub-folder of the
   image's class.
Under ``mask`` only masks count (a box gives no outline). An image without a region is handled
by ``data.roi_missing``: ``error`` (the default: a named error), ``drop`` (left out, listed in
results/qc/rejected.csv) or ``whole`` (the whole image, counted in results/qc/regions.csv).

The manifest records each image's region (``roi_source``, ``roi_box``, ``roi_masks``), and every
step that feeds a model reads the pixels through ``crop_to_region``: shards (training, validation,
test), external sets, Score-CAM (on the test shards) and prediction.
Duplicate detection keeps working on the whole images.
"""

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from busflow.data.images import IMAGE_EXTENSIONS, decode_image, resize_square
from busflow.data.label_csv import BOX_COLUMNS
from busflow.errors import BusflowError

ROI_MODES = ("none", "box", "mask")
MISSING_RULES = ("error", "drop", "whole")
# A mask pixel belongs to the lesion above mid-grey: masks are drawn black and white, and
# anti-aliased or resampled edges land in between.
MASK_LEVEL = 127
REGION_COLUMNS = ["roi_source", "roi_box", "roi_masks"]


class RegionError(BusflowError):
    """A lesion region that cannot be used: a mask of another size, an empty mask, a box outside
    the image, a mask without its image, or an image without a region under roi_missing: error."""


@dataclass(frozen=True)
class RoiRule:
    """data.roi, data.roi_margin, data.roi_missing: how regions are cut (the schema documents
    each)."""

    mode: str = "none"
    margin: float = 0.1
    missing: str = "error"

    def __post_init__(self):
        if self.mode not in ROI_MODES:
            raise ValueError(f"data.roi must be one of {', '.join(ROI_MODES)}, got {self.mode!r}")
        if self.missing not in MISSING_RULES:
            raise ValueError(f"data.roi_missing must be one of {', '.join(MISSING_RULES)}")

    @classmethod
    def of(cls, data) -> "RoiRule":
        """From data settings (a DataSettings or a mapping with the data section's keys)."""
        get = data.get if isinstance(data, dict) else lambda key, default: getattr(data, key)
        return cls(get("roi", "none"), get("roi_margin", 0.1), get("roi_missing", "error"))

    @property
    def used(self) -> bool:
        return self.mode != "none"

    def describe(self) -> str:
        if not self.used:
            return "whole image"
        what = "box" if self.mode == "box" else "box, pixels outside the mask black"
        return f"lesion region from the expert's annotation ({what}, margin {self.margin:g})"

    def as_record(self) -> dict:
        """What model.json's ``input.roi`` holds (``from_record`` reads it back)."""
        return {"mode": self.mode, "margin": self.margin, "missing": self.missing}

    @classmethod
    def from_record(cls, record: dict | None) -> "RoiRule":
        """An export's ``input.roi``; exports made before regions existed saw whole images."""
        return cls(**record) if record else cls()


@dataclass(frozen=True)
class Region:
    """An image's lesion region in its own pixels: ``box`` (x0, y0, x1, y1), x1 and y1 exclusive,
    and the mask files it came from (empty for a given box). ``source``: mask, box or whole."""

    source: str
    box: tuple[int, int, int, int] | None = None
    masks: tuple[str, ...] = ()

    def columns(self) -> dict:
        return {
            "roi_source": self.source,
            "roi_box": " ".join(map(str, self.box)) if self.box else "",
            "roi_masks": ";".join(self.masks),
        }

    @classmethod
    def from_columns(cls, row) -> "Region | None":
        """The manifest's columns back as a Region (None where no region was recorded)."""
        source = str(row.get("roi_source", "") or "")
        if not source:
            return None
        box = tuple(int(v) for v in str(row["roi_box"]).split()) or None
        masks = tuple(m for m in str(row.get("roi_masks", "") or "").split(";") if m)
        return cls(source, box, masks)


WHOLE = Region("whole")


def mask_pixels(mask_path, image_path, width: int, height: int) -> np.ndarray:
    """A mask as booleans; RegionError naming both files when it cannot be this image's mask."""
    if not os.path.isfile(mask_path):
        raise RegionError(
            f"{mask_path}: the mask of {image_path} is not there. Fix the mask's path, or "
            "remove it from the list."
        )
    try:
        with Image.open(mask_path) as mask:
            size = mask.size
            pixels = np.asarray(mask.convert("L"))
    except (OSError, SyntaxError, ValueError) as error:
        raise RegionError(f"{mask_path}: not a mask image Pillow can read ({error}).") from None
    if size != (width, height):
        raise RegionError(
            f"{mask_path}: the mask is {size[0]} x {size[1]} pixels but its image {image_path} "
            f"is {width} x {height}. A mask must be drawn on its own image: give the right mask, "
            "or remove it."
        )
    lesion = pixels > MASK_LEVEL
    if not lesion.any():
        raise RegionError(
            f"{mask_path}: the mask marks no pixel (all dark), so it gives {image_path} no lesion "
            "region. Fix the mask, or remove it and let data.roi_missing decide."
        )
    return lesion


def union_of_masks(mask_paths, image_path, width: int, height: int) -> np.ndarray:
    """Every mask of one image united (BUSI draws one mask per lesion)."""
    union = np.zeros((height, width), dtype=bool)
    for mask in mask_paths:
        union |= mask_pixels(mask, image_path, width, height)
    return union


def box_of(lesion: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(lesion.any(axis=1)), np.flatnonzero(lesion.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def region_from_masks(mask_paths, image_path, width: int, height: int) -> Region:
    lesion = union_of_masks(mask_paths, image_path, width, height)
    return Region("mask", box_of(lesion), tuple(str(m) for m in mask_paths))


def region_from_box(values, image_path, width: int, height: int, where: str) -> Region:
    """A given box (x, y, w, h); RegionError naming ``where`` when it is not inside the image."""
    try:
        x, y, w, h = (int(round(float(v))) for v in values)
    except ValueError:
        raise RegionError(
            f"{where}: the box {', '.join(map(str, values))} is not four numbers. Give "
            f"{', '.join(BOX_COLUMNS)} in pixels, or leave all four empty."
        ) from None
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise RegionError(
            f"{where}: the box x={x} y={y} w={w} h={h} is not inside its image {image_path} "
            f"({width} x {height} pixels). Fix {', '.join(BOX_COLUMNS)} (pixels of this image), "
            "or leave them empty."
        )
    return Region("box", (x, y, x + w, y + h))


MASK_BESIDE = "{stem}_mask(_\\d+)?"


def mask_stem(name: str) -> str | None:
    """The image name a BUSI-style mask file name belongs to ('x' for 'x_mask_1.png'), or None."""
    match = re.fullmatch(MASK_BESIDE.format(stem="(?P<stem>.+?)") + r"\.\w+", name)
    return match["stem"] if match else None


def masks_beside(image_path) -> list[str]:
    """BUSI's layout: ``<name>_mask.png``, ``<name>_mask_1.png`` in the image's own folder."""
    path = Path(image_path)
    pattern = re.compile(MASK_BESIDE.format(stem=re.escape(path.stem)) + r"\.\w+", re.IGNORECASE)
    return sorted(str(p) for p in path.parent.iterdir() if pattern.fullmatch(p.name))


def is_mask_beside_an_image(path) -> bool:
    """Whether ``path`` is BUSI-style mask of an image in its folder (<name>_mask*.<ext> beside
    <name>.<ext>): what a folder of new images to predict lists as a mask, not an image."""
    path = Path(path)
    stem = mask_stem(path.name)
    if stem is None:
        return False
    return any(
        (path.parent / (stem + extension)).exists()
        for extension in {e for x in IMAGE_EXTENSIONS for e in (x, x.upper())}
    )


def masks_in_folder(folder, image_path, label: str = "") -> list[str]:
    """A mask folder's files of one image: ``<name>.<ext>`` or ``<name>_<anything>.<ext>``, in the
    folder or its ``<label>/`` sub-folder."""
    stem = Path(image_path).stem
    found = []
    for place in (Path(folder) / label, Path(folder)) if label else (Path(folder),):
        if place.is_dir():
            found += [str(p) for p in sorted(place.iterdir()) if is_mask_name_of(p.name, stem)]
        if found:
            break
    return found


def is_mask_name_of(name: str, stem: str) -> bool:
    base, extension = os.path.splitext(name)
    if extension.lower() not in IMAGE_EXTENSIONS:
        return False
    return base == stem or base.startswith(stem + "_")


@dataclass(frozen=True)
class RegionSources:
    """What one image offers: masks listed for it, a box given with it, and a mask folder."""

    listed_masks: tuple[str, ...] = ()
    box: tuple | None = None
    masks_folder: str | None = None
    where: str = ""


def find_region(
    image_path, label: str, width: int, height: int, sources: RegionSources, rule: RoiRule
) -> Region | None:
    """The image's region (see the module docstring for the order), or None when it has none."""
    where = sources.where or str(image_path)
    if sources.listed_masks:
        return region_from_masks(sources.listed_masks, image_path, width, height)
    if sources.box is not None and rule.mode == "box":
        return region_from_box(sources.box, image_path, width, height, where)
    beside = masks_beside(image_path)
    if beside:
        return region_from_masks(beside, image_path, width, height)
    if sources.masks_folder:
        found = masks_in_folder(sources.masks_folder, image_path, label)
        if found:
            return region_from_masks(found, image_path, width, height)
    return None


def missing_region(image_path, rule: RoiRule, setting: str) -> Region | None:
    """An image without a region: RegionError (roi_missing: error), None (drop) or WHOLE."""
    if rule.missing == "whole":
        return WHOLE
    if rule.missing == "drop":
        return None
    need = "a mask" if rule.mode == "mask" else "a mask or a box"
    raise RegionError(
        f"{image_path}: no lesion region for data.roi: {rule.mode} ({need}; looked for a mask "
        f"or box column in its CSV, <name>_mask* files beside it, and the mask folder of "
        f"{setting}). Give its mask, or set data.roi_missing: drop (leave such images out) or "
        "whole (use the whole image); both are counted in results/qc/regions.csv."
    )


def crop_box(box, width: int, height: int, margin: float) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` of its width and height on each side, clamped to the image."""
    x0, y0, x1, y1 = box
    grow_x, grow_y = round(margin * (x1 - x0)), round(margin * (y1 - y0))
    return (
        max(0, x0 - grow_x),
        max(0, y0 - grow_y),
        min(width, x1 + grow_x),
        min(height, y1 + grow_y),
    )


def crop_to_region(grey: np.ndarray, region: Region | None, rule: RoiRule) -> np.ndarray:
    """The pixels a model sees of a full-resolution grey image: itself without a rule or region
    (or a ``whole`` region), else the crop (with the outside of the mask black under ``mask``)."""
    if not rule.used or region is None or region.box is None:
        return grey
    height, width = grey.shape
    x0, y0, x1, y1 = crop_box(region.box, width, height, rule.margin)
    if rule.mode == "mask" and region.masks:
        lesion = union_of_masks(region.masks, "the image", width, height)
        grey = np.where(lesion, grey, 0).astype(np.uint8)
    return grey[y0:y1, x0:x1]


def region_pixels(grey: np.ndarray, region: Region | None, rule: RoiRule, preprocess=None):
    """A full-size grey image cut to its region, then preprocessed (data.preprocess). Under a
    region the crop replaces crop_to_field (the field's borders are outside the box already, and
    a dark lesion would read as border)."""
    if rule.used and preprocess is not None and preprocess.crop_to_field:
        preprocess = dataclasses.replace(preprocess, crop_to_field=False)
    grey = crop_to_region(grey, region, rule)
    return grey if preprocess is None else preprocess.apply(grey)


def square_input(grey: np.ndarray, size: int, preprocess, region: Region | None, rule: RoiRule):
    """The one path from a full-size grey image to a model's size x size uint8 pixels: cut to
    its region, data.preprocess at full resolution, then the square resize."""
    return resize_square(region_pixels(grey, region, rule, preprocess), size)


def model_input(path, size: int, preprocess, region: Region | None, rule: RoiRule) -> np.ndarray:
    """What a model sees of one file, wherever an image enters one (shards, external sets; the
    predict command's decoded images go through square_input too): decoded, then square_input."""
    grey, _ = decode_image(path, max_pixels=None)  # the manifest has checked its size
    return square_input(grey, size, preprocess, region, rule)
