"""Image augmentation as in the paper, fast: numpy + Pillow only.

The paper augmented every training image 24x with Keras' ``ImageDataGenerator``:
"rotation (90, 180, 270), width shift, height shift, rescaling, shearing, zooming,
horizontal flipping, and filling". This module reproduces those transforms on
single-channel grey ``uint8`` images of shape ``(H, W)`` that are already resized to
the training size.

What each paper term maps to here
---------------------------------
- *rotation*: a multiple of 90 degrees drawn uniformly from ``AugmentParams.rotations``.
  Positive angles turn the picture counter-clockwise as displayed (row 0 at the top),
  so 90 degrees equals ``np.rot90(image, 1)``; this is also the direction of a
  positive ``theta`` in Keras' legacy ``apply_affine_transform``.
- *width / height shift*: uniform in ``[-s, s]`` times the width / height, as Keras'
  float ``width_shift_range`` / ``height_shift_range``. (Keras' legacy code applies its
  height range along the columns for ``channels_last`` images; for the square images
  and equal ranges used here the two are the same distribution. Here width means width.)
- *shearing*: Keras' ``shear_range`` unit, which is DEGREES: the legacy source draws
  ``shear ~ U(-shear_range, shear_range)`` and applies ``np.deg2rad(shear)`` with the
  matrix ``[[1, -sin(s)], [0, cos(s)]]`` on (x, y). So the default ``shear=0.2`` is a
  0.2-degree shear, nearly invisible, exactly as in a Keras script that passed
  ``shear_range=0.2`` (a common copy-paste value that authors often believe is radians).
- *zooming*: independent factors per axis, uniform in ``[1 - z, 1 + z]``; like Keras the
  factor maps output to input coordinates, so a factor above 1 shrinks the content.
- *horizontal flipping*: mirror left-right with probability 0.5, applied last.
- *filling*: what appears where the transform looks outside the image: Keras' (SciPy's)
  ``"nearest"`` (edge pixel repeated), ``"reflect"`` (mirror about the edge, the edge
  pixel repeated: ``d c b a | a b c d``) or ``"constant"`` (``fill_value``).
- *rescaling*: the 1/255 scaling of pixel values is NOT done here; it is a layer inside
  the Keras model, so the augmented images stay ``uint8``.

How it is fast
--------------
All geometric parts are composed into ONE 3x3 affine matrix per sample and applied with
a single ``PIL.Image.transform(..., AFFINE, resample=BILINEAR)`` call, which runs in C
(about 3x Keras' ``scipy.ndimage.affine_transform`` path per core; see
``bench/augment_throughput.py``). The 90-degree rotations are exact integer matrices,
so a pure rotation or flip moves pixels without any interpolation blur.

Rounding: PIL's bilinear filter truncates when it writes 8-bit pixels, so the image is
resampled as float32 and rounded to the nearest grey level on the way back to ``uint8``
(truncation would darken every augmented image by half a grey level on average).

Memory: each call makes a float32 copy of the (padded) image and a float32 result, both
PIL images. At 224 px their speed depends on the C allocator reusing memory rather than
mapping fresh pages; in a process that has mostly handled small arrays, setting the
environment variable ``PILLOW_BLOCKS_MAX=8`` (Pillow's documented block cache) before
Pillow is imported keeps the throughput of ``bench/augment_throughput.py``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = ["AugmentParams", "random_affine", "augment_image", "augment_copies", "apply_affine", "FILL_MODES"]

FILL_MODES = ("nearest", "constant", "reflect")

# np.pad mode that reproduces each SciPy/Keras fill mode outside the image.
_PAD_MODE = {"nearest": "edge", "reflect": "symmetric"}

# Exact 2x2 rotation blocks (output -> input, on (x=column, y=row) about the centre).
# Integer entries avoid cos(pi/2) = 6e-17 and so keep pure rotations exact.
_ROT = {
    0: ((1, 0), (0, 1)),
    90: ((0, -1), (1, 0)),
    180: ((-1, 0), (0, -1)),
    270: ((0, 1), (-1, 0)),
}

# Number of uniform draws per sample: rotation, x shift, y shift, shear, zoom x,
# zoom y, flip. All are drawn every time, so switching one transform off does not
# change the values the others get from the same seed.
_N_DRAWS = 7


@dataclass(frozen=True)
class AugmentParams:
    """Ranges of the random transforms, in Keras ``ImageDataGenerator`` units.

    Attributes:
        rotations: angles in degrees, multiples of 90, one chosen uniformly per sample
            (stored reduced to 0, 90, 180 or 270). Counter-clockwise as displayed.
        width_shift: fraction of the width, in ``[0, 1)``; the shift is uniform in
            ``[-w, w] * W``. (Keras reads values >= 1 as pixels; that form is refused.)
        height_shift: fraction of the height, in ``[0, 1)``; uniform in ``[-h, h] * H``.
        shear: shear angle range in DEGREES (Keras' ``shear_range`` unit), in ``[0, 90)``;
            the angle is uniform in ``[-shear, shear]``. The default 0.2 is 0.2 degrees.
        zoom: per-axis zoom factor uniform in ``[1 - zoom, 1 + zoom]`` (Keras' float
            ``zoom_range``); must be in ``[0, 1)``.
        horizontal_flip: mirror left-right with probability 0.5.
        fill_mode: ``"nearest"``, ``"constant"`` or ``"reflect"`` (Keras' names).
        fill_value: grey level 0-255 used by ``"constant"``.

    Raises:
        ValueError: on construction, for any value outside the ranges above.
    """

    rotations: tuple[int, ...] = (0, 90, 180, 270)
    width_shift: float = 0.2
    height_shift: float = 0.2
    shear: float = 0.2
    zoom: float = 0.2
    horizontal_flip: bool = True
    fill_mode: str = "nearest"
    fill_value: int = 0

    def __post_init__(self):
        object.__setattr__(self, "rotations", _normalise_rotations(self.rotations))
        for name in ("width_shift", "height_shift", "shear", "zoom"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"augment.{name} must be a finite number >= 0, got {value!r}")
        for name in ("width_shift", "height_shift"):
            if getattr(self, name) >= 1:
                raise ValueError(f"augment.{name} is a fraction of the image and must be < 1, got {getattr(self, name)!r}")
        if self.shear >= 90:
            raise ValueError(f"augment.shear is in degrees and must be < 90, got {self.shear!r}")
        if self.zoom >= 1:
            raise ValueError(f"augment.zoom must be < 1 (factors in [1-zoom, 1+zoom] must be > 0), got {self.zoom!r}")
        if not isinstance(self.horizontal_flip, bool):
            raise ValueError(f"augment.horizontal_flip must be true or false, got {self.horizontal_flip!r}")
        if self.fill_mode not in FILL_MODES:
            raise ValueError(f"augment.fill_mode must be one of {', '.join(FILL_MODES)}, got {self.fill_mode!r}")
        if isinstance(self.fill_value, bool) or not isinstance(self.fill_value, (int, np.integer)) or not 0 <= self.fill_value <= 255:
            raise ValueError(f"augment.fill_value must be an integer grey level 0-255, got {self.fill_value!r}")

    @classmethod
    def from_config(cls, cfg: dict | None) -> "AugmentParams":
        """Build from a config mapping whose keys are field names; missing keys keep defaults.

        Lists (as YAML gives them) are accepted for ``rotations``.

        Raises:
            ValueError: for a key that is not a field (the message names it and lists
                the valid ones), for a value out of range, or if ``cfg`` is not a mapping.
        """
        if cfg is not None and not isinstance(cfg, Mapping):
            raise ValueError(f"augment settings must be a mapping of field names, got {type(cfg).__name__}")
        cfg = dict(cfg or {})
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(str(k) for k in cfg if k not in known)
        if unknown:
            raise ValueError(
                f"unknown augment setting(s): {', '.join(unknown)}; valid keys are {', '.join(known)}"
            )
        return cls(**cfg)


def _normalise_rotations(rotations) -> tuple[int, ...]:
    """Return ``rotations`` as a tuple of angles in {0, 90, 180, 270}; ValueError otherwise."""
    if isinstance(rotations, (int, float)):
        rotations = (rotations,)
    try:
        angles = tuple(rotations)
    except TypeError:
        raise ValueError(f"augment.rotations must be a list of multiples of 90, got {rotations!r}") from None
    if not angles:
        raise ValueError("augment.rotations must not be empty; use [0] for no rotation")
    out = []
    for a in angles:
        if isinstance(a, bool) or not isinstance(a, (int, float, np.integer)) or a % 90 != 0:
            raise ValueError(f"augment.rotations must be multiples of 90 degrees, got {a!r}")
        out.append(int(a) % 360)
    return tuple(out)


def random_affine(rng: np.random.Generator, size: tuple[int, int], params: AugmentParams) -> np.ndarray:
    """Draw one random transform and return it as a 3x3 float64 matrix.

    The matrix maps OUTPUT pixel coordinates to INPUT pixel coordinates in homogeneous
    form ``(x, y, 1)`` with ``x`` the column index and ``y`` the row index, pixel centres
    at integer coordinates (SciPy's / Keras' convention). It is composed about the
    image centre ``((W-1)/2, (H-1)/2)`` in Keras' order, ``R @ T @ S @ Z @ F``: rotation,
    shift, shear, zoom, and the horizontal flip (which Keras applies to the output last).
    ``T`` adds ``(tx, ty)`` to input coordinates (content moves by ``(-tx, -ty)``),
    ``S = [[1, -sin(s)], [0, cos(s)]]`` and ``Z = diag(zx, zy)`` as in Keras. A
    90-degree rotation of a non-square image keeps the ``(H, W)`` frame (cropped and
    filled, as Keras does); for square images it is exactly ``np.rot90``.

    Args:
        rng: the source of randomness; exactly one ``rng.random(7)`` call is made.
        size: ``(H, W)`` of the image (numpy shape order).
        params: the ranges.

    Raises:
        ValueError: if ``size`` is not two positive integers.
    """
    h, w = _check_size(size)
    a, b, c, d, e, f = _draw_affine(rng, h, w, params)
    return np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])


def _check_size(size) -> tuple[int, int]:
    """Return ``(H, W)`` as ints; ValueError unless two positive integers."""
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (H, W), got {size!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got {size!r}")
    return h, w


def _draw_affine(rng: np.random.Generator, h: int, w: int, params: AugmentParams) -> tuple[float, ...]:
    """Draw the transform of ``random_affine`` and return its top two rows ``(a, b, c, d, e, f)``.

    Plain Python floats rather than numpy 3x3 products: at 64 px the per-image
    overhead, not the pixel work, decides the throughput.
    """
    u0, u1, u2, u3, u4, u5, u6 = rng.random(_N_DRAWS).tolist()
    rots = params.rotations
    (r00, r01), (r10, r11) = _ROT[rots[min(int(u0 * len(rots)), len(rots) - 1)]]
    tx = (2 * u1 - 1) * params.width_shift * w
    ty = (2 * u2 - 1) * params.height_shift * h
    shear = math.radians((2 * u3 - 1) * params.shear)
    zx = 1 + (2 * u4 - 1) * params.zoom
    zy = 1 + (2 * u5 - 1) * params.zoom
    fx = -1.0 if params.horizontal_flip and u6 < 0.5 else 1.0
    # (shift @ shear @ zoom @ flip) = [[p00, p01, tx], [0, p11, ty]]
    p00, p01, p11 = zx * fx, -math.sin(shear) * zy, math.cos(shear) * zy
    # rotation @ that, still about the centre
    a, b, c = r00 * p00, r00 * p01 + r01 * p11, r00 * tx + r01 * ty
    d, e, f = r10 * p00, r10 * p01 + r11 * p11, r10 * tx + r11 * ty
    # conjugate by the translation to the centre: M' = C @ M @ C^-1
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    return a, b, c + cx - a * cx - b * cy, d, e, f + cy - d * cx - e * cy


def augment_image(image: np.ndarray, rng: np.random.Generator, params: AugmentParams) -> np.ndarray:
    """Return one random augmentation of ``image``: ``(H, W)`` uint8 in, new ``(H, W)`` uint8 out.

    The result depends only on the image, ``params`` and the state of ``rng`` (which
    advances exactly as in ``random_affine``, so ``apply_affine(image,
    random_affine(rng, image.shape, params), ...)`` gives the same image). Values are
    bilinearly interpolated and rounded to the nearest grey level; pure 90-degree
    rotations and flips are exact.

    Raises:
        ValueError: if ``image`` is not a 2-D uint8 array.
    """
    _check_image(image)
    coeffs = _draw_affine(rng, image.shape[0], image.shape[1], params)
    return _resample(image, [coeffs], params.fill_mode, params.fill_value)[0]


def _check_image(image) -> None:
    """Raise ValueError unless ``image`` is a non-empty 2-D uint8 numpy array."""
    if not isinstance(image, np.ndarray) or image.ndim != 2 or image.dtype != np.uint8 or image.size == 0:
        desc = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"augment expects a single-channel (H, W) uint8 image, got a {desc}")


def apply_affine(image: np.ndarray, matrix: np.ndarray, fill_mode: str = "nearest", fill_value: int = 0) -> np.ndarray:
    """Resample 2-D uint8 ``image`` through ``matrix`` (3x3, output -> input, as ``random_affine``).

    Raises:
        ValueError: if ``image`` is not 2-D uint8, ``matrix`` is not 3x3, or
            ``fill_mode`` is unknown.
    """
    _check_image(image)
    m = np.asarray(matrix, dtype=float)
    if m.shape != (3, 3):
        raise ValueError(f"matrix must be 3x3, got shape {m.shape}")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {', '.join(FILL_MODES)}, got {fill_mode!r}")
    return _resample(image, [tuple(m[:2].ravel().tolist())], fill_mode, fill_value)[0]


# Lookup table L -> F adding 0.5: with it, truncating the bilinear result rounds it.
_HALF_UP = [i + 0.5 for i in range(256)]

# Float images of at least this many bytes are made by PIL only (see _resample).
# 128 KiB is glibc's initial mmap threshold: bigger temporaries can cost page faults.
_LARGE_FLOAT_BYTES = 128 * 1024


def _resample(image: np.ndarray, coeff_list: list[tuple[float, ...]], fill_mode: str, fill_value: int,
              out: np.ndarray | None = None) -> np.ndarray:
    """Return ``(len(coeff_list), H, W)`` uint8: ``image`` through each affine, one PIL call each.

    Writes into ``out`` when given (a uint8 array of that shape).

    ``coeff_list`` holds top two matrix rows ``(a, b, c, d, e, f)`` in index coordinates.
    The source (padded once, to the largest margin any of them needs) is shared.
    ``"nearest"``/``"reflect"`` pad so that every sample point lands inside the padded
    image and PIL never fills; ``"constant"`` lets PIL fill with ``fill_value``.

    Rounding is done one of two equivalent ways (identical results). Small images: float
    source, numpy adds 0.5 and truncates (fastest). Large images: the source is made
    ``v + 0.5`` by a lookup table and PIL truncates while converting back to 8 bits, so
    no image-sized float array passes through numpy; that keeps large images fast even
    where the C allocator would otherwise hand out fresh pages for each temporary.
    """
    h, w = image.shape
    large = h * w * 4 >= _LARGE_FLOAT_BYTES
    bias = 0.5 if large else 0.0
    if fill_mode == "constant":
        left = top = 0
        src, fillcolor = np.ascontiguousarray(image), fill_value + bias
    else:
        left, right, top, bottom = _max_margins(coeff_list, h, w)
        src, fillcolor = _pad(image, left, right, top, bottom, fill_mode), None
    # 'L' frombuffer shares the numpy memory; the float copy allows rounding at the end.
    pil_src = Image.frombuffer("L", (src.shape[1], src.shape[0]), src, "raw", "L", 0, 1)
    pil_src = pil_src.point(_HALF_UP, "F") if large else pil_src.convert("F")
    if out is None:
        out = np.empty((len(coeff_list), h, w), dtype=np.uint8)
    for k, (a, b, c, d, e, f) in enumerate(coeff_list):
        # PIL samples output pixel x at x + 0.5 and its input pixel i spans [i, i + 1):
        # conjugate by a half-pixel shift; the padding moves input coordinates by the margin.
        c = c + left + 0.5 - 0.5 * (a + b)
        f = f + top + 0.5 - 0.5 * (d + e)
        # fillcolor=None: nothing to pre-fill when the padding covers every sample point.
        warped = pil_src.transform((w, h), Image.Transform.AFFINE, (a, b, c, d, e, f),
                                   resample=Image.Resampling.BILINEAR, fillcolor=fillcolor)
        if large:  # F -> L truncates (and clips): with the +0.5 source, that is rounding
            out[k] = np.frombuffer(warped.convert("L").tobytes(), dtype=np.uint8).reshape(h, w)
        else:  # bilinear weights are convex, so values lie in [0, 255]: +0.5 then truncate
            out[k] = np.frombuffer(warped.tobytes(), dtype=np.float32).reshape(h, w) + 0.5
    return out


def _max_margins(coeff_list: list[tuple[float, ...]], h: int, w: int) -> tuple[int, int, int, int]:
    """Per side, the largest ``_margins`` over all transforms (one shared padded source)."""
    if len(coeff_list) == 1:
        return _margins(coeff_list[0], h, w)
    return tuple(max(m) for m in zip(*(_margins(c, h, w) for c in coeff_list)))


def _margins(coeffs: tuple[float, ...], h: int, w: int) -> tuple[int, int, int, int]:
    """Padding (left, right, top, bottom) that contains every input point the output samples.

    An affine map sends the output grid's extremes to its corners, so mapping the four
    corner pixel centres bounds all sample points; +1 covers the bilinear neighbour and
    PIL's half-pixel edge test.
    """
    a, b, c, d, e, f = coeffs
    xs = (c, a * (w - 1) + c, b * (h - 1) + c, a * (w - 1) + b * (h - 1) + c)
    ys = (f, d * (w - 1) + f, e * (h - 1) + f, d * (w - 1) + e * (h - 1) + f)

    def need(overhang: float) -> int:
        return math.ceil(overhang) + 1 if overhang > 1e-9 else 0

    return need(-min(xs)), need(max(xs) - (w - 1)), need(-min(ys)), need(max(ys) - (h - 1))


def _pad(image: np.ndarray, left: int, right: int, top: int, bottom: int, fill_mode: str) -> np.ndarray:
    """Return a C-contiguous copy of ``image`` padded the way SciPy's ``fill_mode`` extends it."""
    if fill_mode == "reflect":
        return np.pad(image, ((top, bottom), (left, right)), mode=_PAD_MODE[fill_mode])
    # "nearest" by slice assignment: several times faster than np.pad at these sizes.
    h, w = image.shape
    out = np.empty((top + h + bottom, left + w + right), dtype=np.uint8)
    mid = out[top:top + h]
    mid[:, left:left + w] = image
    mid[:, :left] = image[:, :1]
    mid[:, left + w:] = image[:, -1:]
    out[:top] = mid[0]
    out[top + h:] = mid[-1]
    return out


def augment_copies(
    image: np.ndarray,
    n_copies: int,
    seed_key: tuple[int, ...] | list[int],
    params: AugmentParams,
    keep_original: bool = True,
) -> np.ndarray:
    """Return ``(n_copies, H, W)`` uint8: augmented copies of one image.

    Copy 0 is the unaugmented image when ``keep_original``. Copy ``k`` (every other copy)
    is ``augment_image(image, np.random.default_rng([*seed_key, k]), params)``, so any
    copy can be regenerated alone and no copy depends on the order of generation or on
    the others. Use a ``seed_key`` that identifies the image and the run (e.g. global
    seed and image index) so that different images get different transforms.

    The copies share one padded source image (padding only extends the image, so the
    pixels are those ``augment_image`` gives; the wider margin changes sample coordinates
    by float rounding only, far below what can change a rounded grey level).

    Raises:
        ValueError: if ``image`` is not 2-D uint8, ``n_copies`` < 1, or ``seed_key`` is
            not a sequence of non-negative integers.
    """
    _check_image(image)
    if isinstance(n_copies, bool) or not isinstance(n_copies, (int, np.integer)) or n_copies < 1:
        raise ValueError(f"n_copies must be an integer >= 1, got {n_copies!r}")
    key = _check_seed_key(seed_key)
    h, w = image.shape
    first = 1 if keep_original else 0
    coeff_list = [_draw_affine(np.random.default_rng([*key, k]), h, w, params) for k in range(first, n_copies)]
    out = np.empty((n_copies, h, w), dtype=np.uint8)
    if keep_original:
        out[0] = image
    if coeff_list:
        _resample(image, coeff_list, params.fill_mode, params.fill_value, out=out[first:])
    return out


def _check_seed_key(seed_key) -> list[int]:
    """Return ``seed_key`` as a list of ints; ValueError unless non-negative integers."""
    try:
        key = list(seed_key)
    except TypeError:
        raise ValueError(f"seed_key must be a sequence of non-negative integers, got {seed_key!r}") from None
    if any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0 for k in key):
        raise ValueError(f"seed_key must be a sequence of non-negative integers, got {seed_key!r}")
    return [int(k) for k in key]
