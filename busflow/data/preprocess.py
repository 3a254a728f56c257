"""Scanner-independent pixels: what every image goes through before it is resized for a model.

Another hospital's scanner frames, labels and exposes its images differently; a model can learn
those looks instead of the lesion. Each step here is a config key under ``data.preprocess`` (all
off by default, so the paper's pixels stay the paper's) and applies to training, validation, test
and external images alike. What each one did to cross-hospital AUC is measured in
``docs/results/robustness/``.
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from busflow.config.sections import Section

NORMALISATIONS = ("none", "percentile", "equalize")
# Below this grey level a pixel is background (black borders, transparent crops), not tissue.
DARK = 12
# A row or column is inside the ultrasound field when at least this share of it is tissue; text
# bands and scale bars on black stay below it.
FIELD_SHARE = 0.3
# Cropping that keeps less than this share of the image has found something else than the field.
SMALLEST_FIELD = 0.25
# An overlay mark (caliper, dotted line, text) is thin and near white: far brighter than the
# median around it. Bright tissue (a reflector) is wider than the median window.
OVERLAY_LEVEL = 200
OVERLAY_CONTRAST = 80
OVERLAY_WINDOW = 7


@dataclass(frozen=True)
class Preprocess(Section):
    """data.preprocess: crop_to_field, suppress_overlays, normalise_intensity (defaults and
    meaning in the schema; build with ``from_config``)."""

    SECTION: ClassVar[str] = "data.preprocess"
    crop_to_field: bool
    suppress_overlays: bool
    normalise_intensity: str

    def __post_init__(self):
        if self.normalise_intensity not in NORMALISATIONS:
            raise ValueError(
                f"data.preprocess.normalise_intensity must be one of {', '.join(NORMALISATIONS)}, "
                f"got {self.normalise_intensity!r}"
            )

    @property
    def is_identity(self) -> bool:
        return self == Preprocess.from_config(None)

    def apply(self, grey: np.ndarray) -> np.ndarray:
        """Full-resolution grey uint8 in, grey uint8 out (smaller when cropped)."""
        if self.crop_to_field:
            top, bottom, left, right = field_box(grey)
            grey = grey[top:bottom, left:right]
        if self.suppress_overlays:
            grey = suppress_overlays(grey)
        return normalise_intensity(grey, self.normalise_intensity)


def field_box(grey: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the ultrasound field: the rows and columns that are mostly
    tissue. The whole image when the box would be implausibly small (a very dark scan)."""
    tissue = grey > DARK
    rows = np.flatnonzero(tissue.mean(axis=1) >= FIELD_SHARE)
    if rows.size == 0:
        return 0, grey.shape[0], 0, grey.shape[1]
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(tissue[top:bottom].mean(axis=0) >= FIELD_SHARE)
    if cols.size == 0:
        return 0, grey.shape[0], 0, grey.shape[1]
    left, right = int(cols[0]), int(cols[-1]) + 1
    if (bottom - top) * (right - left) < SMALLEST_FIELD * grey.size:
        return 0, grey.shape[0], 0, grey.shape[1]
    return top, bottom, left, right


def overlay_mask(grey: np.ndarray) -> np.ndarray:
    """Pixels of thin near-white marks, grown by one pixel to take their anti-aliased edges."""
    median = np.asarray(
        Image.fromarray(grey).filter(ImageFilter.MedianFilter(OVERLAY_WINDOW)), dtype=np.int16
    )
    marks = (grey >= OVERLAY_LEVEL) & (grey.astype(np.int16) - median >= OVERLAY_CONTRAST)
    grown = Image.fromarray(marks.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(3))
    return np.asarray(grown) > 0


def suppress_overlays(grey: np.ndarray) -> np.ndarray:
    """Calipers and text painted over by the median of their surroundings."""
    mask = overlay_mask(grey)
    if not mask.any():
        return grey
    median = np.asarray(
        Image.fromarray(grey).filter(ImageFilter.MedianFilter(2 * OVERLAY_WINDOW + 1))
    )
    return np.where(mask, median, grey).astype(np.uint8)


def normalise_intensity(grey: np.ndarray, method: str) -> np.ndarray:
    """percentile: the tissue's 1st-99th percentiles stretched to 0-255 (gain and dynamic range);
    equalize: histogram equalisation (also the grey-level curve)."""
    if method == "none":
        return grey
    if method == "equalize":
        return np.asarray(ImageOps.equalize(Image.fromarray(grey)), dtype=np.uint8)
    tissue = grey[grey > DARK]
    if tissue.size < 100:
        return grey
    low, high = np.percentile(tissue, [1, 99])
    if high - low < 1:
        return grey
    stretched = (grey.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(stretched + 0.5, 0, 255).astype(np.uint8)
