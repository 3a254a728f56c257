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
All geometric parts are composed into ONE affine matrix per sample and resampled by
Pillow's C bilinear filter on float32 images (faster per pixel than its 8-bit one).
Per copy, nothing else costs much:

- the padded source is made once per call and shared by all copies; Pillow reads it and
  writes each copy straight into a reused numpy buffer (``_f32_image``), so there is no
  image allocation and no ``tobytes`` copy per copy;
- rounding is free: the source holds ``v + 0.5`` and the float -> uint8 cast truncates,
  which gives round-half-up (Pillow's own 8-bit bilinear truncates, which would darken
  every augmented image by half a grey level on average);
- ``augment_copies`` derives the seeds of all copies in one vectorised, bit-exact
  re-implementation of NumPy's ``SeedSequence`` (``_seeded_uniforms``): building a
  ``default_rng`` per copy costs about a third as much as resampling a 64 px copy,
  batched about a third of that.

Bit-exact by construction: the matrix coefficients are rounded to multiples of 2**-32
(``_GRID``; sample points move by under 1e-7 px at 224 px), which makes every sample
coordinate Pillow computes exact in double precision. Results then do not depend on how
much padding a call used
or on anything else a batch shares, so copy ``k`` of ``augment_copies`` equals
``augment_image`` with that copy's generator, bit for bit.

The 90-degree rotations are exact integer matrices, so a pure rotation or flip moves
pixels without any interpolation blur.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.random import PCG64
from numpy.random.bit_generator import ISeedSequence
from PIL import Image

from busflow.config.sections import Section

__all__ = [
    "AugmentParams",
    "random_affine",
    "augment_image",
    "augment_copies",
    "apply_affine",
    "FILL_MODES",
]

FILL_MODES = ("nearest", "constant", "reflect")

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
class AugmentParams(Section):
    """augment.transforms: ranges of the random transforms, in Keras ``ImageDataGenerator`` units.
    Build with ``from_config``: the defaults and bounds are config/schema.yaml's, and the checks
    below refuse exactly what the schema refuses (tests/test_augment_bounds.py).

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

    SECTION: ClassVar[str] = "augment.transforms"
    rotations: tuple[int, ...]
    width_shift: float
    height_shift: float
    shear: float
    zoom: float
    horizontal_flip: bool
    fill_mode: str
    fill_value: int

    def __post_init__(self):
        object.__setattr__(self, "rotations", _normalise_rotations(self.rotations))
        object.__setattr__(self, "fill_value", _grey_level(self.fill_value))
        for name, below, unit in _RANGES:
            _check_range(name, getattr(self, name), below, unit)
        if not isinstance(self.horizontal_flip, bool):
            raise ValueError(
                f"augment.horizontal_flip must be true or false, got {self.horizontal_flip!r}"
            )
        if self.fill_mode not in FILL_MODES:
            raise ValueError(
                f"augment.fill_mode must be one of {', '.join(FILL_MODES)}, got {self.fill_mode!r}"
            )


# (field, exclusive upper bound, why): each range is a finite number in [0, bound).
_RANGES = (
    ("width_shift", 1, "is a fraction of the image"),
    ("height_shift", 1, "is a fraction of the image"),
    ("shear", 90, "is in degrees"),
    ("zoom", 1, "is a fraction (factors in [1-zoom, 1+zoom] must stay > 0)"),
)


def _check_range(name: str, value, below: float, unit: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"augment.{name} must be a finite number >= 0, got {value!r}")
    if value >= below:
        raise ValueError(f"augment.{name} {unit} and must be < {below}, got {value!r}")


def _grey_level(value) -> int:
    """``value`` as an int grey level 0-255; an integral float (YAML 3.0) counts, as in the
    schema's ``integer``."""
    integral = isinstance(value, (int, np.integer)) or (
        isinstance(value, float) and value.is_integer()
    )
    if isinstance(value, bool) or not integral or not 0 <= value <= 255:
        raise ValueError(f"augment.fill_value must be an integer grey level 0-255, got {value!r}")
    return int(value)


def _normalise_rotations(rotations) -> tuple[int, ...]:
    """Return ``rotations`` as a tuple of angles in {0, 90, 180, 270}; ValueError otherwise."""
    if isinstance(rotations, (int, float)):
        rotations = (rotations,)
    try:
        angles = tuple(rotations)
    except TypeError:
        raise ValueError(
            f"augment.rotations must be a list of multiples of 90, got {rotations!r}"
        ) from None
    if not angles:
        raise ValueError("augment.rotations must not be empty; use [0] for no rotation")
    out = []
    for a in angles:
        if isinstance(a, bool) or not isinstance(a, (int, float, np.integer)) or a % 90 != 0:
            raise ValueError(f"augment.rotations must be multiples of 90 degrees, got {a!r}")
        out.append(int(a) % 360)
    return tuple(out)


def random_affine(
    rng: np.random.Generator, size: tuple[int, int], params: AugmentParams
) -> np.ndarray:
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


def _draw_affine(
    rng: np.random.Generator, h: int, w: int, params: AugmentParams
) -> tuple[float, ...]:
    """Draw the transform of ``random_affine`` and return its top
    two rows ``(a, b, c, d, e, f)``."""
    return _affine_from_uniforms(rng.random(_N_DRAWS).tolist(), h, w, params)


def _affine_from_uniforms(
    u: list[float], h: int, w: int, params: AugmentParams
) -> tuple[float, ...]:
    """The transform for the ``_N_DRAWS`` uniforms ``u``, as top two matrix rows.

    Plain Python floats rather than numpy 3x3 products: at 64 px the per-image
    overhead, not the pixel work, decides the throughput. Both ``augment_image`` and
    ``augment_copies`` come through here, so they get the very same floats.
    """
    u0, u1, u2, u3, u4, u5, u6 = u
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
    if (
        not isinstance(image, np.ndarray)
        or image.ndim != 2
        or image.dtype != np.uint8
        or image.size == 0
    ):
        desc = (
            f"{image.dtype} array of shape {image.shape}"
            if isinstance(image, np.ndarray)
            else type(image).__name__
        )
        raise ValueError(f"augment expects a single-channel (H, W) uint8 image, got a {desc}")


def apply_affine(
    image: np.ndarray, matrix: np.ndarray, fill_mode: str = "nearest", fill_value: int = 0
) -> np.ndarray:
    """Resample 2-D uint8 ``image`` through ``matrix`` (3x3, output -> input, as ``random_affine``).

    Raises:
        ValueError: if ``image`` is not 2-D uint8, ``matrix`` is not a finite 3x3, or
            ``fill_mode`` is unknown.
    """
    _check_image(image)
    m = np.asarray(matrix, dtype=float)
    if m.shape != (3, 3) or not np.isfinite(m).all():
        raise ValueError(f"matrix must be 3x3 and finite, got {m!r}")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {', '.join(FILL_MODES)}, got {fill_mode!r}")
    return _resample(image, [tuple(m[:2].ravel().tolist())], fill_mode, fill_value)[0]


# Coefficients are rounded to multiples of 1/_GRID (_on_grid). For random_affine's
# matrices (|a|, |b|, |d|, |e| < 2) on images below 2**13 px a side, every product with a
# pixel coordinate (a multiple of 0.5) and every sum Pillow forms is then a multiple of
# 2**-33 below 2**16, so it fits in 50 bits: sample coordinates are exact in double
# precision and do not depend on the padding offset or on the order of operations.
# That is what makes batch and single-image results identical.
_GRID = 2.0**32


def _resample(
    image: np.ndarray,
    coeff_list: list[tuple[float, ...]],
    fill_mode: str,
    fill_value: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Return ``(len(coeff_list), H, W)`` uint8: ``image`` through each affine.

    Writes into ``out`` when given (a uint8 array of that shape). ``coeff_list`` holds
    top two matrix rows ``(a, b, c, d, e, f)`` in index coordinates. The source (padded
    once, to the largest margin any of them needs) is shared: ``"nearest"``/``"reflect"``
    pad so that every sample point and its bilinear neighbours lie inside it, so Pillow
    never fills; ``"constant"`` does not pad and Pillow leaves ``fill_value`` outside.
    """
    h, w = image.shape
    coeff_list = [_on_grid(c) for c in coeff_list]
    left, right, top, bottom = (
        (0, 0, 0, 0) if fill_mode == "constant" else _max_margins(coeff_list, h, w)
    )
    src = _f32_image(_half_up_source(image, left, right, top, bottom, fill_mode))
    if out is None:
        out = np.empty((len(coeff_list), h, w), dtype=np.uint8)
    buf = np.empty((h, w), dtype=np.float32)  # reused: Pillow writes each copy here
    dst = _f32_image(buf)
    for k, coeffs in enumerate(coeff_list):
        if fill_mode == "constant":  # fill=0 below: Pillow keeps this where it samples outside
            buf.fill(fill_value + 0.5)
        dst.transform(
            (0, 0, w, h),
            src,
            Image.Transform.AFFINE,
            _pil_coeffs(coeffs, left, top),
            Image.Resampling.BILINEAR,
            0,
        )
        # values lie in [0.5, 255.5] (bilinear weights are convex): truncation rounds
        np.copyto(out[k], buf, casting="unsafe")
    return out


def _on_grid(coeffs: tuple[float, ...]) -> tuple[float, ...]:
    """``coeffs`` rounded to multiples of ``1 / _GRID`` (exact: _GRID is a power of two)."""
    return tuple(round(v * _GRID) / _GRID for v in coeffs)


def _pil_coeffs(coeffs: tuple[float, ...], left: int, top: int) -> tuple[float, ...]:
    """Pillow's AFFINE data for index-coordinate ``coeffs`` on a source padded by ``left``/``top``.

    Pillow samples output pixel x at x + 0.5 and its input pixel i spans [i, i + 1):
    conjugate by a half-pixel shift; the padding moves input coordinates by the margin.
    Exact on the grid, so the margin cannot change a result.
    """
    a, b, c, d, e, f = coeffs
    return a, b, c + left + 0.5 - 0.5 * (a + b), d, e, f + top + 0.5 - 0.5 * (d + e)


def _f32_image(array: np.ndarray):
    """Pillow's core image of mode F over a C-contiguous float32 ``array``'s memory, no copy.

    Pillow's public ``frombuffer`` copies mode F, and ``Image.transform`` always allocates
    a new image; the core calls used instead (``map_buffer``, ``transform`` into an
    existing image) are the ones ``Image.frombuffer`` and ``Image.transform`` use
    themselves. Pillow is pinned in pyproject.toml; the tests cover these calls.
    """
    return Image.core.map_buffer(array, (array.shape[1], array.shape[0]), "raw", 0, ("F", 0, 1))


def _max_margins(coeff_list: list[tuple[float, ...]], h: int, w: int) -> tuple[int, int, int, int]:
    """Per side, the largest ``_margins`` over all transforms (one shared padded source)."""
    if len(coeff_list) == 1:
        return _margins(coeff_list[0], h, w)
    return tuple(max(m) for m in zip(*(_margins(c, h, w) for c in coeff_list)))


def _margins(coeffs: tuple[float, ...], h: int, w: int) -> tuple[int, int, int, int]:
    """Padding (left, right, top, bottom) that contains every input point the output samples.

    An affine map sends the output grid's extremes to its corners, so mapping the four
    corner pixel centres bounds all sample points; +1 covers the bilinear neighbour and
    PIL's half-pixel edge test. (An overhang below 1e-9 px needs no padding: Pillow's
    clamp at the edge then reads the same pixel the padding would hold.)
    """
    a, b, c, d, e, f = coeffs
    xs = (c, a * (w - 1) + c, b * (h - 1) + c, a * (w - 1) + b * (h - 1) + c)
    ys = (f, d * (w - 1) + f, e * (h - 1) + f, d * (w - 1) + e * (h - 1) + f)

    def need(overhang: float) -> int:
        return math.ceil(overhang) + 1 if overhang > 1e-9 else 0

    return need(-min(xs)), need(max(xs) - (w - 1)), need(-min(ys)), need(max(ys) - (h - 1))


def _half_up_source(
    image: np.ndarray, left: int, right: int, top: int, bottom: int, fill_mode: str
) -> np.ndarray:
    """float32 ``image + 0.5``, padded the way SciPy's ``fill_mode`` extends it (C-contiguous)."""
    half = np.float32(0.5)  # a float32 scalar, so that uint8 + half is float32
    if fill_mode == "constant":  # never padded
        return image + half
    if fill_mode == "reflect":  # SciPy's "reflect" is numpy's "symmetric": d c b a | a b c d
        return np.pad(image, ((top, bottom), (left, right)), mode="symmetric") + half
    # "nearest" by slice assignment, then one contiguous += : faster than np.pad here.
    h, w = image.shape
    out = np.empty((top + h + bottom, left + w + right), dtype=np.float32)
    mid = out[top : top + h]
    mid[:, left : left + w] = image
    mid[:, :left] = image[:, :1]
    mid[:, left + w :] = image[:, -1:]
    out[:top] = mid[0]
    out[top + h :] = mid[-1]
    out += half
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

    The copies share one padded source image, and their generators are seeded all at
    once (``_seeded_uniforms``); both give exactly what ``augment_image`` gives (see the
    module docstring, "Bit-exact by construction").

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
    uniforms = _seeded_uniforms(key, range(first, n_copies)).tolist()
    coeff_list = [_affine_from_uniforms(u, h, w, params) for u in uniforms]
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
        raise ValueError(
            f"seed_key must be a sequence of non-negative integers, got {seed_key!r}"
        ) from None
    if any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0 for k in key):
        raise ValueError(f"seed_key must be a sequence of non-negative integers, got {seed_key!r}")
    return [int(k) for k in key]


# --- seeding many generators at once --------------------------------------------------
# NumPy's SeedSequence (numpy/random/bit_generator.pyx), whose constants these are. It is
# a fixed sequence of uint32 operations, so it vectorises over the copies of one image;
# PCG64 is then seeded from its output as np.random.default_rng would seed it.
_M32 = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_POOL = 4  # SeedSequence's default pool size, in uint32 words
_OTHERS = [
    np.array([d for d in range(_POOL) if d != s]) for s in range(_POOL)
]  # in SeedSequence's order


def _seeded_uniforms(key: list[int], ks) -> np.ndarray:
    """``(len(ks), _N_DRAWS)`` float64: row i is
    ``np.random.default_rng([*key, ks[i]]).random(_N_DRAWS)``.

    Bit for bit (the tests compare against NumPy), at a fraction of the cost of one
    ``default_rng`` per copy. ``ks`` must be below 2**32 (one uint32 word each).
    """
    seeds = _generate_state(_mix_entropy(_entropy_words(key, ks)))
    raw = np.empty((len(seeds), _N_DRAWS), dtype=np.uint64)
    for i, state in enumerate(seeds):
        raw[i] = PCG64(_FixedSeed(state)).random_raw(_N_DRAWS)
    # Generator.random's double: the top 53 bits of a raw 64-bit draw, times 2**-53
    return (raw >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _entropy_words(key: list[int], ks) -> np.ndarray:
    """``(max(L, _POOL), n)`` uint32: SeedSequence's entropy words of ``[*key, k]`` per column.

    Each integer becomes its uint32 words, least significant first (0 is one word), as
    in NumPy's ``_coerce_to_uint32_array``; rows past the ``L`` words stay 0, which is
    what SeedSequence hashes for a missing word.
    """
    words = []
    for value in key:
        words.append(value & _M32)
        value >>= 32
        while value:
            words.append(value & _M32)
            value >>= 32
    ks = np.asarray(ks, dtype=np.uint32)
    out = np.zeros((max(len(words) + 1, _POOL), len(ks)), dtype=np.uint32)
    out[: len(words)] = np.array(words, dtype=np.uint32)[:, None]
    out[len(words)] = ks
    return out


def _mix_entropy(entropy: np.ndarray) -> np.ndarray:
    """SeedSequence.mix_entropy for each column of ``entropy``; returns the ``(_POOL, n)`` pool.

    SeedSequence's hash constant changes with every hash in a fixed order, independent of
    the data, so the constants are looked up by position (``_hash_consts``).
    """
    n_words = entropy.shape[0]
    xor, mul = _hash_consts(_INIT_A, _MULT_A, _POOL * _POOL + _POOL * (n_words - _POOL))
    xor, mul = xor[:, None], mul[:, None]  # columns: one constant per pool word
    pool = _hashmix(entropy[:_POOL], xor[:_POOL], mul[:_POOL])
    j = _POOL
    for src, dst in enumerate(_OTHERS):  # mix all bits together, so late words affect earlier ones
        pool[dst] = _mix(
            pool[dst], _hashmix(pool[src], xor[j : j + _POOL - 1], mul[j : j + _POOL - 1])
        )
        j += _POOL - 1
    for src in range(_POOL, n_words):  # words beyond the pool size
        pool = _mix(pool, _hashmix(entropy[src], xor[j : j + _POOL], mul[j : j + _POOL]))
        j += _POOL
    return pool


def _generate_state(pool: np.ndarray) -> np.ndarray:
    """``(n, 4)`` uint64: SeedSequence.generate_state(4, np.uint64) for each pool column."""
    xor, mul = _hash_consts(_INIT_B, _MULT_B, 8)
    words = _hashmix(pool[np.arange(8) % _POOL], xor[:, None], mul[:, None])
    # uint64 words from little-endian pairs of uint32, as SeedSequence makes them
    return np.ascontiguousarray(words.T, dtype="<u4").view("<u8").astype(np.uint64)


@functools.lru_cache(maxsize=None)
def _hash_consts(init: int, mult: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The hash constant before and after each of ``n`` successive hashmix calls (uint32)."""
    consts = [init]
    for _ in range(n):
        consts.append(consts[-1] * mult & _M32)
    consts = np.array(consts, dtype=np.uint32)
    consts.flags.writeable = False  # cached and shared
    return consts[:-1], consts[1:]


def _hashmix(value: np.ndarray, xor, mul) -> np.ndarray:
    """SeedSequence's hashmix with its constants given (uint32 arrays wrap as C does)."""
    value = (value ^ xor) * mul
    return value ^ (value >> 16)


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SeedSequence's mix of two uint32 words."""
    result = x * _MIX_L - y * _MIX_R
    return result ^ (result >> 16)


class _FixedSeed(ISeedSequence):
    """A seed sequence that hands PCG64 a state already generated (``_generate_state``)."""

    def __init__(self, state: np.ndarray):
        self.state = state

    def generate_state(self, n_words, dtype=np.uint32):
        return self.state
