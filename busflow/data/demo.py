"""Deterministic synthetic breast-ultrasound images for the workflow demo.

The demo has to run without patient data, yet exercise the same code path as a
user's data set (a folder of class sub-folders holding 8-bit grey PNG files) and
give the classifiers a task that resembles the real one. Each image is a crude
B-mode model: multiplicative, spatially correlated (Rayleigh) speckle on top of
horizontally layered breast tissue, depth attenuation partly undone by
time-gain compensation, and log compression. A hypoechoic lesion is placed near
the centre with the features radiologists use (BI-RADS): benign masses are
smooth ovals, wider than tall ("parallel" orientation), with at most 2-3 gentle
lobulations, a sharp margin, a slightly brighter interior and sometimes
posterior enhancement; malignant masses are taller than wide, angular and
spiculated with an indistinct margin, and cast a posterior acoustic shadow.
Every parameter is drawn from overlapping per-class ranges so that the classes
are learnable but not trivially separable.
"""

from __future__ import annotations

import argparse
import json
import pathlib
from collections.abc import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

CLASSES = ("benign", "malignant")


def _speckle(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fully developed speckle: the envelope of smoothed complex Gaussian noise.

    Smoothing before taking the magnitude correlates the speckle like a real
    point-spread function would; the PSF is wider laterally than axially.
    """
    noise = rng.standard_normal((2, size, size))
    sigma = (0, 0.9 * size / 128, 1.8 * size / 128)
    re, im = ndimage.gaussian_filter(noise, sigma, mode="wrap")
    envelope = np.hypot(re, im)
    return envelope / envelope.mean()


def _tissue_layers(rng: np.random.Generator, size: int) -> np.ndarray:
    """Mean echogenicity of the breast without lesion, rows = depth.

    Bright skin line, darker subcutaneous fat, bright fibroglandular tissue and
    darker tissue towards the chest wall, with wavy boundaries so that the
    layering never looks ruler-straight.
    """
    x = np.linspace(0.0, 1.0, size)
    depth = np.linspace(0.0, 1.0, size)[:, None]

    def boundary(mean):
        phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(1.0, 3.0)
        return mean + rng.uniform(0.01, 0.05) * np.sin(2 * np.pi * freq * x + phase)

    skin = boundary(rng.uniform(0.03, 0.06))
    fat = boundary(rng.uniform(0.18, 0.3))
    gland = boundary(rng.uniform(0.72, 0.88))
    echo = np.full((size, size), rng.uniform(0.45, 0.65))
    echo = np.where(depth < gland, rng.uniform(0.75, 1.0), echo)
    echo = np.where(depth < fat, rng.uniform(0.35, 0.55), echo)
    echo = np.where(depth < skin, 1.4, echo)
    # Low-frequency blotches: fat lobules and ducts inside the gland.
    blotch = ndimage.gaussian_filter(rng.standard_normal((size, size)), size / 20)
    echo = echo * np.exp(0.25 * blotch / (blotch.std() + 1e-9))
    return ndimage.gaussian_filter(echo, (size / 128, size / 64))


def _depth_gain(rng: np.random.Generator, size: int) -> np.ndarray:
    """Attenuation with depth, only partly compensated by the scanner's TGC."""
    depth = np.linspace(0.0, 1.0, size)[:, None]
    residual = rng.uniform(0.4, 1.2)
    return np.exp(-residual * depth) * np.ones((1, size))


def _radius_benign(rng: np.random.Generator, theta: np.ndarray) -> np.ndarray:
    """Smooth outline: an ellipse, half of the time with 2 or 3 gentle lobes."""
    radius = np.ones_like(theta)
    for _ in range(rng.integers(0, 2)):
        lobes = rng.integers(2, 4)
        radius += rng.uniform(0.03, 0.1) * np.cos(lobes * theta + rng.uniform(0, 2 * np.pi))
    return radius


def _radius_malignant(rng: np.random.Generator, theta: np.ndarray) -> np.ndarray:
    """Angular outline: an irregular polygon with spicules and a jagged margin."""
    n_vertices = rng.integers(5, 9)
    angles = np.sort(rng.uniform(0, 2 * np.pi, n_vertices))
    radii = rng.uniform(0.7, 1.15, n_vertices)
    radius = np.interp(theta % (2 * np.pi), angles, radii, period=2 * np.pi)
    for _ in range(rng.integers(3, 9)):
        centre, width = rng.uniform(0, 2 * np.pi), rng.uniform(0.04, 0.12)
        gap = np.angle(np.exp(1j * (theta - centre)))
        radius += rng.uniform(0.2, 0.7) * np.exp(-0.5 * (gap / width) ** 2)
    for harmonic in range(6, 16):
        radius += rng.uniform(0, 0.04) * np.cos(harmonic * theta + rng.uniform(0, 2 * np.pi))
    return radius


def _log_compress(rng: np.random.Generator, intensity: np.ndarray) -> np.ndarray:
    """Map echo intensity to grey levels over a scanner-like dynamic range in dB."""
    decibels = 20.0 * np.log10(intensity + 1e-3)
    # The display interpolates a little, which softens the speckle's pinpoint nulls.
    decibels = ndimage.gaussian_filter(decibels, 0.6)
    dynamic_range, top = rng.uniform(42.0, 50.0), rng.uniform(15.0, 19.0)
    grey = 255.0 * (decibels - top + dynamic_range) / dynamic_range
    return np.clip(grey, 0, 255).astype(np.uint8)


def _lesion_geometry(
    rng: np.random.Generator, label: str, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Signed, normalised distance to the outline (<0 inside) and the lesion mask."""
    benign = label == "benign"
    height = size * rng.uniform(0.16, 0.3)
    # Orientation is the most reliable sign; tilt, lobes and spicules
    # blur the gap between these ranges.
    ratio = rng.uniform(1.25, 2.3) if benign else rng.uniform(0.55, 1.05)
    width = height * ratio
    cy, cx = size * rng.uniform(0.38, 0.58), size * rng.uniform(0.35, 0.65)
    tilt = rng.uniform(-0.3, 0.3)
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    u = (cols - cx) * np.cos(tilt) + (rows - cy) * np.sin(tilt)
    v = -(cols - cx) * np.sin(tilt) + (rows - cy) * np.cos(tilt)
    rho = np.hypot(u / (width / 2), v / (height / 2))
    theta = np.arctan2(v / height, u / width)
    outline = _radius_benign(rng, theta) if benign else _radius_malignant(rng, theta)
    signed = rho - outline
    return signed, signed < 0


def _below(mask: np.ndarray) -> np.ndarray:
    """Pixels under the lesion in the same column, where shadow or enhancement appears."""
    return np.maximum.accumulate(mask, axis=0) & ~mask


def render_lesion(rng: np.random.Generator, label: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Render one image and return it with the boolean lesion mask, both (size, size)."""
    if label not in CLASSES:
        raise ValueError(f"label must be one of {CLASSES}, got {label!r}")
    benign = label == "benign"
    signed, mask = _lesion_geometry(rng, label, size)
    # Benign margins are circumscribed (sharp); malignant ones blend into tissue.
    edge = rng.uniform(0.02, 0.06) if benign else rng.uniform(0.06, 0.15)
    inside = 1.0 / (1.0 + np.exp(signed / edge))
    contrast = rng.uniform(0.12, 0.35) if benign else rng.uniform(0.06, 0.22)
    echo = _tissue_layers(rng, size) * (1.0 - (1.0 - contrast) * inside)
    below = ndimage.gaussian_filter(_below(mask).astype(float), size / 60)
    # Sound passes a fluid-like benign mass easily but is absorbed by a desmoplastic one.
    posterior = (
        1.0 + rng.uniform(0.0, 0.45) * below if benign else 1.0 - rng.uniform(0.25, 0.75) * below
    )
    intensity = echo * posterior * _depth_gain(rng, size) * _speckle(rng, size)
    return _log_compress(rng, intensity), mask


def render_lesion_image(rng: np.random.Generator, label: str, size: int) -> np.ndarray:
    """One synthetic (size, size) uint8 B-mode image of a benign or malignant lesion."""
    return render_lesion(rng, label, size)[0]


def demo_file(out_dir, label: str, index: int) -> pathlib.Path:
    """Where image ``index`` of class ``label`` is written (the
    workflow declares these as outputs)."""
    return pathlib.Path(out_dir) / label / f"{label}_{index:04d}.png"


def demo_mask_file(out_dir, label: str, index: int) -> pathlib.Path:
    """The lesion mask of image ``index`` beside it, named as BUSI names its masks."""
    image = demo_file(out_dir, label, index)
    return image.with_name(f"{image.stem}_mask.png")


# Beside the class folders (hidden: no layout check or listing reads it): the settings of the demo
# written there, so that the workflow can tell a demo still to write from a written one.
DEMO_RECORD = ".busflow_demo.json"


def demo_record_file(out_dir) -> pathlib.Path:
    return pathlib.Path(out_dir) / DEMO_RECORD


def demo_settings(n_per_class: int, size: int, seed: int, classes=CLASSES, masks=False) -> dict:
    return {
        "n_per_class": int(n_per_class),
        "size": int(size),
        "seed": int(seed),
        "classes": list(classes),
        "masks": bool(masks),
    }


def demo_is_written(out_dir, settings: dict) -> bool:
    """Whether ``out_dir`` holds the demo of these settings (its record says so). Then the folder
    is the data set like any other: a demo image deleted since is not written again."""
    try:
        return json.loads(demo_record_file(out_dir).read_text()) == settings
    except (OSError, ValueError):
        return False


def generate_demo_dataset(
    out_dir,
    n_per_class: int = 60,
    size: int = 128,
    seed: int = 0,
    classes: Sequence[str] = CLASSES,
    masks: bool = False,
) -> list[pathlib.Path]:
    """Write out_dir/<class>/<class>_<NNNN>.png and return the paths written (images only).

    Each image has its own generator seeded by (seed, class index, image index),
    so asking for more images leaves the earlier ones unchanged. Files with
    other names in out_dir are left alone; our own names are overwritten. ``masks``: also write
    each lesion's mask beside its image (<name>_mask.png, white = lesion), BUSI's layout. Last,
    the settings go to DEMO_RECORD (demo_is_written).
    """
    out_dir = pathlib.Path(out_dir)
    written = []
    for ci, label in enumerate(classes):
        class_dir = out_dir / label
        class_dir.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            pixels, lesion = render_lesion(np.random.default_rng([seed, ci, i]), label, size)
            path = demo_file(out_dir, label, i)
            Image.fromarray(pixels).save(path)
            if masks:
                Image.fromarray(lesion.astype(np.uint8) * 255).save(
                    demo_mask_file(out_dir, label, i)
                )
            written.append(path)
    settings = demo_settings(n_per_class, size, seed, classes, masks)
    demo_record_file(out_dir).write_text(json.dumps(settings, indent=2) + "\n")
    return written


def main(argv: Sequence[str] | None = None) -> list[pathlib.Path]:
    parser = argparse.ArgumentParser(
        prog="python -m busflow.data.demo",
        description=(
            "Write a synthetic benign/malignant breast-ultrasound data set of grey PNG files."
        ),
    )
    parser.add_argument(
        "out_dir", type=pathlib.Path, help="folder to create the class sub-folders in"
    )
    parser.add_argument(
        "--n-per-class", type=int, default=60, metavar="N", help="images per class (default 60)"
    )
    parser.add_argument(
        "--size", type=int, default=128, metavar="S", help="image side in pixels (default 128)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="K",
        help="random seed; same seed, same pixels (default 0)",
    )
    parser.add_argument(
        "--masks", action="store_true", help="also write each lesion's mask, <name>_mask.png"
    )
    args = parser.parse_args(argv)
    if args.n_per_class < 1 or args.size < 16:
        parser.error("--n-per-class must be >= 1 and --size >= 16")
    paths = generate_demo_dataset(
        args.out_dir, args.n_per_class, args.size, args.seed, masks=args.masks
    )
    print(f"wrote {len(paths)} images to {args.out_dir}")
    return paths


if __name__ == "__main__":
    main()
