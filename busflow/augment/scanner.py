"""Augmentation for the scanner's look: gain, contrast, gamma, blur, speckle and resolution.

The paper's transforms (busflow.augment.affine) move the picture; these change how a different
scanner or preset would have rendered it. Each range is a config key under ``augment.scanner``
(all 0 by default: the paper's augmentation). They apply to augmented training copies only,
after the geometric transform, each copy with its own generator, so a copy is the same whatever
shard or order made it.
"""

from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
from PIL import Image, ImageFilter

from busflow.config.sections import Section

# Mixed into each copy's seed so these draws never repeat the geometric ones.
_STREAM = 0x5CA7


@dataclass(frozen=True)
class ScannerAugment(Section):
    """augment.scanner (build with ``from_config``; every default 0): ranges, each drawn uniformly
    per copy:

    gain: brightness factor in [1 - gain, 1 + gain]; contrast: factor about the mean in
    [1 - contrast, 1 + contrast]; gamma: exponent exp(U[-gamma, gamma]); blur: Gaussian radius in
    [0, blur] pixels; speckle: standard deviation of multiplicative unit-mean noise in
    [0, speckle]; resolution: downsample by a factor in [1, 1 + resolution] and back.
    """

    SECTION: ClassVar[str] = "augment.scanner"
    gain: float
    contrast: float
    gamma: float
    blur: float
    speckle: float
    resolution: float

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not np.isfinite(value)
                or value < 0
            ):
                raise ValueError(f"augment.scanner.{f.name} must be a number >= 0, got {value!r}")
        for name in ("gain", "contrast"):
            if getattr(self, name) >= 1:
                raise ValueError(
                    f"augment.scanner.{name} must be < 1 (a factor in [1 - x, 1 + x] must stay > 0)"
                )

    @property
    def is_identity(self) -> bool:
        return all(getattr(self, f.name) == 0 for f in fields(self))

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One grey uint8 image in, the same image as another scanner might show it out."""
        u = rng.random(
            6
        ).tolist()  # drawn every time, so a range set to 0 does not shift the others' draws
        pixels = _resample(image, 1 + self.resolution * u[0]) if self.resolution else image
        if self.blur:
            pixels = np.asarray(
                Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(self.blur * u[1]))
            )
        x = pixels.astype(np.float32) / 255.0
        if self.speckle:
            sigma = self.speckle * u[2]
            if sigma > 0:
                x = x * rng.gamma(1 / sigma**2, sigma**2, size=x.shape).astype(np.float32)
        x = np.clip(x, 0, 1) ** np.float32(np.exp(self.gamma * (2 * u[3] - 1)))
        x = x.mean() + (x - x.mean()) * (1 + self.contrast * (2 * u[4] - 1))
        x = x * (1 + self.gain * (2 * u[5] - 1))
        return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def _resample(image: np.ndarray, factor: float) -> np.ndarray:
    h, w = image.shape
    small = Image.fromarray(image).resize(
        (max(1, round(w / factor)), max(1, round(h / factor))), Image.Resampling.BILINEAR
    )
    return np.asarray(small.resize((w, h), Image.Resampling.BILINEAR), dtype=np.uint8)


def apply_to_copies(
    stack: np.ndarray, copies: list[int], key, params: ScannerAugment, untouched=(0,)
) -> np.ndarray:
    """Stack of copies of one image (row i is copy ``copies[i]``); rows whose copy is in
    ``untouched`` (the original) are left as they are."""
    if params is None or params.is_identity:
        return stack
    out = stack.copy()
    for row, copy in enumerate(copies):
        if copy not in untouched:
            out[row] = params.apply(stack[row], np.random.default_rng([*key, _STREAM, copy]))
    return out
