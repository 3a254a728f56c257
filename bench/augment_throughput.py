"""Benchmark: augmentation throughput of busflow.augment vs Keras' legacy ImageDataGenerator.

Not a test. It prints images per second per CPU core for ``busflow.augment`` next to
Keras 3's legacy ``ImageDataGenerator`` doing the same transforms, measured in the same
run on the same synthetic grey images, and the ratio. The target is ours >= 3x Keras
on the workflow's path.

Two busflow paths, each against ``ImageDataGenerator.random_transform`` per image (the
generator's transform step alone, the least Keras can cost per augmented image; Keras
has no batched form, so 24 copies cost it 24 calls):
- workflow (the target): ``augment_copies(image, 24, seed_key, params)``, per augmented
  copy; this is what ``busflow.shards`` calls. Copy 0, the original, is made but not
  counted. Each copy is seeded on its own (``default_rng([*seed_key, k])``), so this
  path does more than Keras, which draws from one global generator.
- single: ``augment_image`` per image, with one generator for the whole pass.
For reference only, ``ImageDataGenerator.flow()`` in batches of 32 is timed too (what a
Keras training script pays per image: transform, float cast, standardize, batch
assembly); it does more work than either busflow path, so no ratio is claimed on it.

Fairness, and what "per core" means:
- One process, one thread: OMP/OpenBLAS/MKL/TF thread counts are forced to 1 before
  numpy, scipy or TensorFlow are imported, and (where the OS allows it, unless
  ``--no-pin``) the process is pinned to a single CPU, so the figure is per core.
- Same images and same transform ranges: width/height shift 0.2, shear 0.2 (Keras'
  unit: degrees; busflow matches it), zoom 0.2, horizontal flip, fill "nearest",
  bilinear interpolation (Keras' default ``interpolation_order=1``).
- Rotation: the paper's 90/180/270 rotations do not exist in ImageDataGenerator, whose
  ``rotation_range`` draws an arbitrary angle. By default (``--keras-rotation rot90``)
  Keras gets ``rotation_range=0`` and each image is also turned by a random multiple of
  90 degrees with ``np.rot90`` (timed with it; in ``flow()`` as its
  ``preprocessing_function``), which is the same transform set as ours.
  ``--keras-rotation range90`` uses ``rotation_range=90`` instead (what many scripts did).
- Keras receives float32 ``(H, W, 1)`` arrays, as ``flow()`` converts its input to
  float32 once up front; that conversion is not timed. busflow works on uint8 ``(H, W)``.
- Each timing is one pass over ``--n`` images (the workflow path: about ``--n`` copies,
  from ``--n / 23`` images); the best of ``--repeat`` passes (interleaved between the
  implementations) is reported, as the least disturbed by other processes; medians
  are in the JSON.

Usage (from the repo root):
    python bench/augment_throughput.py --size 224 64 --n 500 --repeat 5 [--json [PATH]]
"""

from __future__ import annotations

import os

# Before numpy / scipy / TensorFlow are imported: they size their thread pools at import.
for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
):
    os.environ[_var] = "1"
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = "bench/results/augment_throughput.json"
TARGET_RATIO = 3.0
COPIES = 24  # the paper augmented every image 24x
FLOW_BATCH = 32


def pin_to_one_cpu() -> int | None:
    """Pin this process to the first CPU it may use; return that CPU, or None if unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def import_busflow():
    """Import busflow.augment, from the checkout if busflow is not installed."""
    try:
        import busflow.augment as augment
    except ImportError:
        sys.path.insert(0, str(REPO_ROOT))
        import busflow.augment as augment
    return augment


def synthetic_images(n: int, size: int, seed: int):
    """Return ``n`` ultrasound-like uint8 (size, size) images: a dark lesion on speckle."""
    import numpy as np

    rng = np.random.default_rng([seed, size])
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = []
    for _ in range(n):
        cx, cy, r = rng.uniform(0.3, 0.7, 3) * (1, 1, 0.4)
        lesion = np.exp(-((((xx - cx) ** 2 + (yy - cy) ** 2) / r**2) ** 2))
        speckle = rng.gamma(4.0, 0.25, (size, size))  # multiplicative, mean 1
        base = (0.35 + 0.4 * (1 - yy)) * (1 - 0.8 * lesion)
        images.append(np.clip(255 * base * speckle, 0, 255).astype(np.uint8))
    return images


def make_keras_generator(keras_rotation: str):
    """Return an ImageDataGenerator with the paper's ranges (see module docstring).

    With ``rot90`` its ``preprocessing_function`` turns each image by a random multiple
    of 90 degrees; ``flow()`` applies it, ``random_transform`` does not (time_keras
    turns the image itself).
    """
    import numpy as np
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    def rot90(x):
        return np.rot90(x, np.random.randint(4), axes=(0, 1))

    return ImageDataGenerator(
        rotation_range=90 if keras_rotation == "range90" else 0,
        width_shift_range=0.2,
        height_shift_range=0.2,
        shear_range=0.2,
        zoom_range=0.2,
        horizontal_flip=True,
        fill_mode="nearest",
        preprocessing_function=rot90 if keras_rotation == "rot90" else None,
        data_format="channels_last",
        dtype="float32",
    )


def time_single(augment, images, seed: int) -> float:
    """Seconds for one augmentation of each image with busflow.augment.augment_image."""
    import numpy as np

    params = augment.AugmentParams.from_config({})
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for img in images:
        augment.augment_image(img, rng, params)
    return time.perf_counter() - start


def time_workflow(augment, images, seed: int) -> tuple[float, int]:
    """Seconds and number of augmented copies for augment_copies(24) over
    enough images (copy 0 not counted)."""
    params = augment.AugmentParams.from_config({})
    n_images = -(-len(images) // (COPIES - 1))  # ceil: about len(images) augmented copies
    start = time.perf_counter()
    for i, img in enumerate(images[:n_images]):
        augment.augment_copies(img, COPIES, (seed, i), params)
    return time.perf_counter() - start, n_images * (COPIES - 1)


def time_keras(gen, images_f32, seed: int, keras_rotation: str) -> float:
    """Seconds for one ImageDataGenerator.random_transform of each image (plus np.rot90)."""
    import numpy as np

    np.random.seed(seed)  # the legacy generator draws from numpy's global RNG
    start = time.perf_counter()
    for x in images_f32:
        if keras_rotation == "rot90":
            x = np.rot90(x, np.random.randint(4), axes=(0, 1))
        gen.random_transform(x)
    return time.perf_counter() - start


def time_keras_flow(gen, batch_f32, seed: int) -> float:
    """Seconds to draw every image of ``batch_f32`` once through ImageDataGenerator.flow()."""
    it = gen.flow(batch_f32, batch_size=FLOW_BATCH, shuffle=False, seed=seed)
    start = time.perf_counter()
    for i in range(len(it)):
        it[i]
    return time.perf_counter() - start


def bench_size(
    augment, gen, size: int, n: int, repeat: int, seed: int, keras_rotation: str
) -> dict:
    """Measure all paths at one image size; return the result row."""
    import numpy as np

    images = synthetic_images(n, size, seed)
    images_f32 = [img[:, :, None].astype(np.float32) for img in images]
    batch_f32 = np.stack(images_f32)
    # Warm-up: first calls pay for lazy imports and allocator growth.
    time_single(augment, images[:10], seed)
    time_workflow(augment, images[: 3 * COPIES], seed)
    time_keras(gen, images_f32[:10], seed, keras_rotation)
    time_keras_flow(gen, batch_f32[:FLOW_BATCH], seed)
    runs = {"workflow": [], "single": [], "keras": [], "keras_flow": []}
    for r in range(repeat):  # interleaved so drifting machine load hits all alike
        seconds, count = time_workflow(augment, images, seed + r)
        runs["workflow"].append(count / seconds)
        runs["single"].append(n / time_single(augment, images, seed + r))
        runs["keras"].append(n / time_keras(gen, images_f32, seed + r, keras_rotation))
        runs["keras_flow"].append(n / time_keras_flow(gen, batch_f32, seed + r))
    row = {"size": size, "n": n, "repeat": repeat}
    for name, values in runs.items():
        row[f"{name}_img_per_s"] = max(values)
        row[f"{name}_median_img_per_s"] = statistics.median(values)
        row[f"{name}_runs"] = values
    row["workflow_ratio"] = row["workflow_img_per_s"] / row["keras_img_per_s"]
    row["single_ratio"] = row["single_img_per_s"] / row["keras_img_per_s"]
    return row


def print_table(rows: list[dict], keras_rotation: str, cpu) -> None:
    """Print the result table and the verdict against TARGET_RATIO (on the workflow path)."""
    print(
        f"augmentation throughput in images/s per core (best of repeats); single process, "
        f"1 thread, {'pinned to CPU ' + str(cpu) if cpu is not None else 'not pinned'}; "
        f"keras rotation: {keras_rotation}"
    )
    print(f"{'':>6} {'ours':^21} | {'keras':^27} | {'ours / keras':^17}")
    print(
        f"{'size':>6} {'workflow*':>10} {'single':>10} | {'random_transform':>16} {'flow(32)':>10} "
        f"| {'workflow*':>9} {'single':>7}"
    )
    for row in rows:
        print(
            f"{row['size']:>6} {row['workflow_img_per_s']:>10.0f} {row['single_img_per_s']:>10.0f} "
            f"| {row['keras_img_per_s']:>16.0f} {row['keras_flow_img_per_s']:>10.0f} | "
            f"{row['workflow_ratio']:>8.2f}x {row['single_ratio']:>6.2f}x"
        )
    print(
        f"  * workflow = augment_copies(image, {COPIES}, seed_key, params) per augmented copy: "
        "the path busflow.shards uses"
    )
    print(
        "    single = augment_image per image. Ratios are against keras random_transform per image "
        "(same transforms, one augmented image each);"
    )
    print(f"    flow(32) = ImageDataGenerator.flow(batch_size={FLOW_BATCH}), for reference only.")
    worst = min(row["workflow_ratio"] for row in rows)
    verdict = "met" if worst >= TARGET_RATIO else "NOT met"
    print(
        f"target: workflow path >= {TARGET_RATIO:.0f}x keras at every size -> {verdict} (lowest "
        f"{worst:.2f}x; single-image path lowest {min(r['single_ratio'] for r in rows):.2f}x)"
    )


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, nargs="+", default=[224, 64], help="square image sizes (px)")
    p.add_argument("--n", type=int, default=500, help="images per timed pass")
    p.add_argument("--repeat", type=int, default=5, help="timed passes; the best is reported")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--keras-rotation",
        choices=("rot90", "range90"),
        default="rot90",
        help="rot90: rotation_range=0 + np.rot90 by a random multiple of 90 (same "
        "transforms as ours); range90: rotation_range=90",
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    p.add_argument(
        "--json",
        nargs="?",
        const=DEFAULT_JSON,
        default=None,
        metavar="PATH",
        help=f"also write the results as JSON (default path {DEFAULT_JSON})",
    )
    args = p.parse_args(argv)
    if args.n < 1 or args.repeat < 1 or min(args.size) < 2:
        p.error("--n and --repeat must be >= 1 and every --size >= 2")
    return args


def main(argv=None) -> int:
    """Run the benchmark, print the table, write JSON if asked; return 0 (it is not a test)."""
    args = parse_args(argv)
    cpu = None if args.no_pin else pin_to_one_cpu()
    augment = import_busflow()
    import keras
    import numpy as np
    import PIL
    import scipy

    gen = make_keras_generator(args.keras_rotation)
    rows = [
        bench_size(augment, gen, s, args.n, args.repeat, args.seed, args.keras_rotation)
        for s in args.size
    ]
    print_table(rows, args.keras_rotation, cpu)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "target_ratio": TARGET_RATIO,
            "threads": 1,
            "pinned_cpu": cpu,
            "target_path": "workflow",
            "paths": {
                "workflow": (
                    f"augment_copies(image, {COPIES}, seed_key, params), per "
                    "augmented copy (busflow.shards' path)"
                ),
                "single": "augment_image(image, rng, params), per image",
                "keras": "ImageDataGenerator.random_transform per image (+ np.rot90 with rot90)",
                "keras_flow": (
                    f"ImageDataGenerator.flow(batch_size={FLOW_BATCH}) per image, reference only"
                ),
            },
            "target_met": min(r["workflow_ratio"] for r in rows) >= TARGET_RATIO,
            "keras_rotation": args.keras_rotation,
            "results": rows,
            "versions": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "pillow": PIL.__version__,
                "scipy": scipy.__version__,
                "keras": keras.__version__,
            },
            "machine": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
        }
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
