"""Augmentation images/s per CPU core: busflow.augment.affine vs Keras' legacy ImageDataGenerator.

Why busflow has its own augmentation (numpy + Pillow): the target is >= 3x Keras on the workflow's
path, measured in the same run on the same synthetic grey images. Paths, each against
``ImageDataGenerator.random_transform`` per image (the least Keras can cost per augmented image):
- workflow (the target): ``augment_copies(image, 24, seed_key, params)`` per augmented copy, what
  busflow.augment.shards calls (copy 0, the original, not counted; every copy seeded on its own);
- single: ``augment_image`` per image, one generator for the pass;
- flow(32): ``ImageDataGenerator.flow()`` in batches of 32, for reference only (it also casts,
  standardises and batches).

Fair by construction: one process, one thread (thread counts forced to 1 before numpy is imported;
pinned to one CPU unless --no-pin); the same ranges (shift, shear in degrees and zoom 0.2, flip,
nearest fill, bilinear); Keras' rotation_range draws any angle, so by default it gets
rotation_range=0 plus np.rot90 by a random multiple of 90, our transform set (--keras-rotation
range90: rotation_range=90). Keras gets float32 (H, W, 1) arrays, converted untimed. Best of
--repeat interleaved passes; medians in the JSON.

    python bench/augment_throughput.py --size 224 64 --n 500 --repeat 5 [--json [PATH]]
"""

import os

# Before numpy / scipy / TensorFlow are imported: they size their thread pools at import.
for _threads in ("OMP", "OPENBLAS", "MKL", "NUMEXPR", "TF_NUM_INTRAOP", "TF_NUM_INTEROP"):
    os.environ[f"{_threads}_NUM_THREADS"] = "1"
os.environ["VECLIB_MAXIMUM_THREADS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # busflow from the checkout
from busflow.runtime.start import select_backend  # noqa: E402

DEFAULT_JSON = "bench/results/augment_throughput.json"
TARGET_RATIO = 3.0
COPIES = 24  # the paper augmented every image 24x
FLOW_BATCH = 32
PATHS = ("workflow", "single", "keras", "keras_flow")


def pin_to_one_cpu() -> int | None:
    """Pin this process to the first CPU it may use; that CPU, or None where unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def synthetic_images(n: int, size: int, seed: int):
    """``n`` ultrasound-like uint8 (size, size) images: a dark lesion on speckle."""
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


def keras_generator(keras_rotation: str):
    """ImageDataGenerator with our ranges; with rot90, flow() turns each image by k * 90 degrees
    (random_transform does not: time_keras turns the image itself)."""
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
        dtype="float32",
    )


def per_second(count: int, function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return count / (time.perf_counter() - start)


def run_workflow(augment, params, images, seed: int) -> None:
    for i, image in enumerate(images):
        augment.augment_copies(image, COPIES, (seed, i), params)


def run_single(augment, params, images, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for image in images:
        augment.augment_image(image, rng, params)


def run_keras(gen, images_f32, seed: int, keras_rotation: str) -> None:
    np.random.seed(seed)  # the legacy generator draws from numpy's global RNG
    for x in images_f32:
        if keras_rotation == "rot90":
            x = np.rot90(x, np.random.randint(4), axes=(0, 1))
        gen.random_transform(x)


def run_keras_flow(gen, batch_f32, seed: int) -> None:
    batches = gen.flow(batch_f32, batch_size=FLOW_BATCH, shuffle=False, seed=seed)
    for i in range(len(batches)):
        batches[i]


def bench_size(augment, gen, size: int, args) -> dict:
    """Every path at one size: best and median images/s, and the ratios to Keras."""
    params = augment.AugmentParams.from_config({})  # the schema's defaults: the ranges above
    images = synthetic_images(args.n, size, args.seed)
    batch_f32 = np.stack([image[:, :, None].astype(np.float32) for image in images])
    n_sources = -(-args.n // (COPIES - 1))  # about n augmented copies
    runs = {name: [] for name in PATHS}
    for r in range(args.repeat + 1):  # pass 0 warms up (lazy imports, allocator growth)
        rates = {
            "workflow": per_second(
                n_sources * (COPIES - 1), run_workflow, augment, params, images[:n_sources], r
            ),
            "single": per_second(args.n, run_single, augment, params, images, r),
            "keras": per_second(args.n, run_keras, gen, batch_f32, r, args.keras_rotation),
            "keras_flow": per_second(args.n, run_keras_flow, gen, batch_f32, r),
        }
        for name, rate in rates.items():
            runs[name] += [rate] if r else []
    row = {"size": size, "n": args.n, "repeat": args.repeat}
    for name, values in runs.items():
        row |= {
            f"{name}_img_per_s": max(values),
            f"{name}_median_img_per_s": statistics.median(values),
        }
        row[f"{name}_runs"] = values
    for name in ("workflow", "single"):
        row[f"{name}_ratio"] = row[f"{name}_img_per_s"] / row["keras_img_per_s"]
    return row


def print_table(rows: list[dict], args, cpu) -> None:
    pinned = f"pinned to CPU {cpu}" if cpu is not None else "not pinned"
    print(f"images/s per core (best of {args.repeat}), 1 thread, {pinned}, {args.keras_rotation}")
    print(f"{'size':>6} {'workflow':>9} {'single':>8} {'keras':>8} {'flow(32)':>9} {'ratios':>14}")
    for r in rows:
        print(
            f"{r['size']:>6} {r['workflow_img_per_s']:>9.0f} {r['single_img_per_s']:>8.0f} "
            f"{r['keras_img_per_s']:>8.0f} {r['keras_flow_img_per_s']:>9.0f} "
            f"{r['workflow_ratio']:>6.2f}x {r['single_ratio']:>5.2f}x"
        )
    worst = min(r["workflow_ratio"] for r in rows)
    verdict = "met" if worst >= TARGET_RATIO else "NOT met"
    print(f"target: workflow >= {TARGET_RATIO:.0f}x keras at every size: {verdict} ({worst:.2f}x)")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, nargs="+", default=[224, 64], help="square sizes (px)")
    p.add_argument("--n", type=int, default=500, help="images per timed pass")
    p.add_argument("--repeat", type=int, default=5, help="timed passes; the best is reported")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keras-rotation", choices=("rot90", "range90"), default="rot90")
    p.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    p.add_argument("--json", nargs="?", const=DEFAULT_JSON, metavar="PATH", help="also write JSON")
    args = p.parse_args(argv)
    if args.n < 1 or args.repeat < 1 or min(args.size) < 2:
        p.error("--n and --repeat must be >= 1 and every --size >= 2")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    cpu = None if args.no_pin else pin_to_one_cpu()
    select_backend(None)  # Keras' generator runs on whichever backend is chosen
    import keras
    import PIL
    import scipy

    import busflow.augment.affine as augment

    gen = keras_generator(args.keras_rotation)
    rows = [bench_size(augment, gen, size, args) for size in args.size]
    print_table(rows, args, cpu)
    if args.json:
        report = {
            "target_ratio": TARGET_RATIO,
            "target_met": min(r["workflow_ratio"] for r in rows) >= TARGET_RATIO,
            "threads": 1,
            "pinned_cpu": cpu,
            "keras_rotation": args.keras_rotation,
            "results": rows,
            "versions": {"python": platform.python_version(), "keras": keras.__version__}
            | {"numpy": np.__version__, "pillow": PIL.__version__, "scipy": scipy.__version__},
            "machine": platform.platform(),
            "cpu_count": os.cpu_count(),
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
