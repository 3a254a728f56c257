"""How well the manifest's duplicate finder groups re-scans of one picture, and whether it merges
distinct ones: why the manifest compares window pHashes (issue 17), not one whole-image pHash.

Each original gets one perturbed copy per kind (shift, crop, scale, brightness, JPEG, calipers,
mirror); busflow.data.duplicates.group_duplicates runs on originals + copies, as the manifest
calls it. Printed per kind and finder (before issue 17 / now): recall (copies grouped with their
original) and false merges (originals newly linked to another original, a copy bridging two
pictures); "distinct": originals the finder links on their own. ``--busi DIR`` (never in tests)
also groups all of BUSI and prints the group counts and the pairs only one finder links. The last
output is in bench/results/duplicate_finder.txt (before the mirrored kind, issue 35) and quoted
in docs/guarantees.md.

    python bench/duplicate_finder.py [--n 100] [--sizes 64 256] [--busi DIR] [--busi-sample 120]
"""

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from busflow.data.demo import CLASSES, render_lesion_image  # noqa: E402
from busflow.data.duplicates import group_duplicates, image_fingerprint  # noqa: E402
from busflow.data.images import decode_image  # noqa: E402


def shift(grey, fraction):
    """The picture moved right and down by fraction of its side, the uncovered edge black."""
    d = max(1, round(fraction * min(grey.shape)))
    moved = np.zeros_like(grey)
    moved[d:, d:] = grey[:-d, :-d]
    return moved


def crop(grey, fraction):
    """fraction of the side cut from every edge (a re-scan framed tighter)."""
    c = max(1, round(fraction * min(grey.shape)))
    return grey[c:-c, c:-c]


def scale(grey, factor):
    height, width = grey.shape
    size = (max(8, round(width * factor)), max(8, round(height * factor)))
    return np.asarray(Image.fromarray(grey).resize(size, Image.Resampling.BILINEAR))


def brightness(grey, offset):
    return np.clip(grey.astype(np.int16) + offset, 0, 255).astype(np.uint8)


def jpeg(grey, quality):
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("L"))


def calipers(grey, seed):
    """Two white '+' caliper marks, a dotted line between them and a small text-like bar."""
    rng = np.random.default_rng(seed)
    image = Image.fromarray(grey.copy())
    draw = ImageDraw.Draw(image)
    height, width = grey.shape
    arm = max(2, round(0.03 * min(grey.shape)))
    (x0, y0), (x1, y1) = points = [
        (int(rng.uniform(*xs) * width), int(rng.uniform(0.3, 0.7) * height))
        for xs in ((0.25, 0.45), (0.55, 0.75))
    ]
    for x, y in points:
        draw.line([(x - arm, y), (x + arm, y)], fill=255)
        draw.line([(x, y - arm), (x, y + arm)], fill=255)
    for t in np.linspace(0.1, 0.9, 9):
        draw.point((x0 + t * (x1 - x0), y0 + t * (y1 - y0)), fill=255)
    left, top = width // 20, height // 20
    draw.rectangle([(left, top), (left + width // 6, top + max(2, height // 40))], fill=230)
    return np.asarray(image)


PERTURBATIONS = {
    "shift 2%": lambda g, i: shift(g, 0.02),
    "shift 5%": lambda g, i: shift(g, 0.05),
    "crop 3%": lambda g, i: crop(g, 0.03),
    "crop 6%": lambda g, i: crop(g, 0.06),
    "scale x0.5": lambda g, i: scale(g, 0.5),
    "scale x1.5": lambda g, i: scale(g, 1.5),
    "brightness +20": lambda g, i: brightness(g, 20),
    "brightness -20": lambda g, i: brightness(g, -20),
    "jpeg q50": lambda g, i: jpeg(g, 50),
    "calipers": lambda g, i: calipers(g, i),
    "mirrored": lambda g, i: np.fliplr(g),  # flipping is a training augmentation (issue 35)
}


def demo_images(n, size, seed=2024):
    rng = np.random.default_rng(seed)
    return {f"demo/{i:04d}": render_lesion_image(rng, CLASSES[i % 2], size) for i in range(n)}


def busi_images(folder, sample=None, seed=0):
    """BUSI's benign and malignant images (masks left out), or a random sample of them."""
    folder = Path(folder)
    paths = sorted(p for c in CLASSES for p in (folder / c).glob("*.png") if "_mask" not in p.name)
    if sample:
        chosen = np.random.default_rng(seed).choice(len(paths), sample, replace=False)
        paths = [paths[i] for i in sorted(chosen)]
    return {f"{p.parent.name}/{p.stem}": decode_image(p)[0] for p in paths}


FINDERS = {
    # The finder before issue 17: one whole-image pHash, unmirrored (mirror_hashes repeat it).
    "before": lambda t: t.assign(window_hashes=t["phash"], mirror_hashes=t["phash"]),
    "now": lambda table: table,
}


def fingerprint_table(images: dict) -> pd.DataFrame:
    return pd.DataFrame(
        [{"image_id": image_id, **image_fingerprint(grey)} for image_id, grey in images.items()]
    )


def group_of(table, distance, finder="now") -> dict:
    groups, _ = group_duplicates(FINDERS[finder](table), distance)
    return dict(zip(table["image_id"], groups))


def linked_original_pairs(groups: dict, ids) -> set:
    members = {}
    for image_id in ids:
        members.setdefault(groups[image_id], []).append(image_id)
    return {
        (a, b) for group in members.values() for i, a in enumerate(group) for b in group[i + 1 :]
    }


DISTINCT = "distinct (originals alone)"


def perturbation_rows(images: dict, originals: pd.DataFrame, distance: int, finder: str) -> list:
    """Recall and false merges of one finder, one row per perturbation kind."""
    ids = list(images)
    alone = linked_original_pairs(group_of(originals, distance, finder), ids)
    rows = []
    for kind, perturb in PERTURBATIONS.items():
        copies = {f"{i} ~ {kind}": perturb(grey, k) for k, (i, grey) in enumerate(images.items())}
        both = pd.concat([originals, fingerprint_table(copies)], ignore_index=True)
        groups = group_of(both, distance, finder)
        found = [groups[copy] == groups[image_id] for copy, image_id in zip(copies, ids)]
        rows.append(row(kind, finder, np.mean(found), linked_original_pairs(groups, ids) - alone))
    return rows + [row(DISTINCT, finder, float("nan"), alone)]


def row(kind: str, finder: str, recall: float, pairs: set) -> dict:
    """``false_merges``: the originals in ``pairs`` of linked originals."""
    merged = len({image_id for pair in pairs for image_id in pair})
    return {"perturbation": kind, "finder": finder, "recall": float(recall), "false_merges": merged}


def report(name, images, distance):
    """Prints recall / false merges per kind for both finders; returns the table."""
    start = time.perf_counter()
    originals = fingerprint_table(images)
    per_image = (time.perf_counter() - start) / len(images)
    rows = [
        row for finder in FINDERS for row in perturbation_rows(images, originals, distance, finder)
    ]
    table = pd.DataFrame(rows).pivot(
        index="perturbation", columns="finder", values=["recall", "false_merges"]
    )
    table = table.reindex([*PERTURBATIONS, DISTINCT])
    print(
        f"\n{name}: {len(images)} originals, one copy each per kind, "
        f"near_duplicate_distance {distance}"
    )
    print(table.to_string(float_format=lambda x: f"{x:.2f}", na_rep="-"))
    print(
        f"fingerprint {per_image * 1000:.1f} ms per image; "
        f"{time.perf_counter() - start:.1f} s in all"
    )
    return table


def busi_groups(folder, distance):
    """Every BUSI image grouped by both finders: group counts and
    the pairs only one finder links."""
    every = fingerprint_table(busi_images(folder))
    ids = list(every["image_id"])
    pairs = {}
    for finder in FINDERS:
        groups = group_of(every, distance, finder)
        pairs[finder] = linked_original_pairs(groups, ids)
        labels = {}
        for image_id, group in groups.items():
            labels.setdefault(group, set()).add(image_id.split("/")[0])
        crossed = sum(len(found) > 1 for found in labels.values())
        print(
            f"BUSI, all {len(ids)} benign + malignant images, finder {finder}: "
            f"{len(set(groups.values()))} groups, {len(pairs[finder])} linked pairs, "
            f"{crossed} groups holding both labels"
        )
    print(f"pairs linked before but not now: {sorted(pairs['before'] - pairs['now'])}")
    print("pairs linked now but not before:")
    for a, b in sorted(pairs["now"] - pairs["before"]):
        print(f"  {a} ~ {b}")


def grouping_time(n_images, distance):
    """Seconds to fingerprint, and to group, n_images demo-like images (the
    manifest's share of the finder)."""
    images = demo_images(n_images, 128, seed=7)
    start = time.perf_counter()
    table = fingerprint_table(images)
    middle = time.perf_counter()
    group_of(table, distance)
    return middle - start, time.perf_counter() - middle


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100, help="demo originals per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--distance", type=int, default=4, help="data.near_duplicate_distance")
    parser.add_argument("--busi", help="BUSI's Dataset_BUSI_with_GT folder (optional)")
    parser.add_argument("--busi-sample", type=int, default=120, help="BUSI originals perturbed")
    parser.add_argument("--timing", type=int, default=2000, help="images timed (0: skip)")
    args = parser.parse_args(argv)
    for size in args.sizes:
        report(f"demo generator, {size} px", demo_images(args.n, size), args.distance)
    if args.busi:
        report(
            f"BUSI sample of {args.busi_sample} (seed 0)",
            busi_images(args.busi, args.busi_sample),
            args.distance,
        )
        print()
        busi_groups(args.busi, args.distance)
    if args.timing:
        fingerprint, grouping = grouping_time(args.timing, args.distance)
        print(
            f"\n{args.timing} images of 128 px: fingerprints "
            f"{fingerprint:.1f} s, grouping {grouping:.1f} s"
        )


if __name__ == "__main__":
    main()
