"""Augmented shards: uint8 image stacks in uncompressed .npz files that NumPy alone can read,
written image by image and read batch by batch (busflow.store).

Each shard holds ``images`` (N, S, S) uint8, ``labels`` (N,) int8 (index in data.classes),
``image_ids`` (N,) str, ``copy_index`` (N,) int16 and ``meta`` (a JSON string: protocol,
leaky, split, shard, seed, image size). All copies of one image sit in one shard, picked by a
stable hash of its id; copy k of an image is the same whatever shard count or order is used.

Split ``pool`` (k-fold cross-validation, see busflow.split.folds) holds every image's augmented
copies and its unaugmented original, from which each fold picks its train, val and test samples.
"""

import json
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from busflow.augment.affine import AugmentParams, augment_copies
from busflow.augment.scanner import ScannerAugment, apply_to_copies
from busflow.config.sections import AugmentSettings, DataSettings, SplitSettings
from busflow.data.preprocess import Preprocess
from busflow.data.regions import Region, RoiRule, model_input
from busflow.hashing import stable_int, stable_unit
from busflow.protocol import is_leaky, splits_copies
from busflow.runtime.progress import Progress
from busflow.split.folds import ORIGINAL_WHEN_NOT_KEPT
from busflow.store import NpzWriter, concat_rows, open_npz


@dataclass(frozen=True)
class ShardSpec:
    split: str
    shard: int
    n_shards: int


def shard_of(image_id: str, n_shards: int) -> int:
    return stable_int("shard", image_id) % n_shards


def copies_per_image(rows: pd.DataFrame, factor: int, balance: bool) -> dict[str, int]:
    """How many samples each image contributes; with balance, every
    class reaches factor x the largest."""
    if not balance:
        return {image_id: factor for image_id in rows["image_id"]}
    target = factor * int(rows["label"].value_counts().max())
    counts = {}
    for _, members in rows.groupby("label"):
        ids = sorted(members["image_id"], key=lambda i: stable_unit("balance", i))
        base, extra = divmod(target, len(ids))
        counts.update({image_id: base + (rank < extra) for rank, image_id in enumerate(ids)})
    return counts


def paper_split_of_copy(image_id: str, copy: int, seed: int, test_fraction: float) -> str:
    """The paper's protocol: each augmented copy is split on its
    own, so copies of one image leak."""
    return "test" if stable_unit("paper-split", seed, image_id, copy) < test_fraction else "train"


def plan_shard(
    split_table: pd.DataFrame, spec: ShardSpec, augment_cfg: dict, split_cfg: dict
) -> list[tuple[str, list[int]]]:
    """(image_id, copy indices) of the samples in one shard, in a fixed order."""
    augment, split = AugmentSettings.of(augment_cfg), SplitSettings.of(split_cfg)
    protocol = split.protocol
    images = split_table[split_table["fold"] == 0]  # every image has exactly one fold-0 row
    # The paper and k-fold pools augment every image; leak-free augments the training split only.
    pool = (
        images
        if splits_copies(protocol) or spec.split == "pool"
        else images[images["split"] == spec.split]
    )
    if is_augmented(spec.split, protocol):
        counts = copies_per_image(pool, augment.factor, augment.balance)
    else:
        counts = {image_id: 1 for image_id in pool["image_id"]}
    plan = []
    for image_id in sorted(pool["image_id"]):
        if shard_of(image_id, spec.n_shards) != spec.shard:
            continue
        copies = list(range(counts[image_id]))
        if splits_copies(protocol) and spec.split != "pool":
            copies = [
                k
                for k in copies
                if paper_split_of_copy(image_id, k, split.seed, split.paper_test_fraction)
                == spec.split
            ]
        elif spec.split == "pool" and not augment.keep_original:
            copies = [ORIGINAL_WHEN_NOT_KEPT, *copies]  # val and test folds need the original
        if copies:
            plan.append((image_id, copies))
    return plan


def is_augmented(split: str, protocol: str) -> bool:
    """Whether a split's shards hold augmented copies: train, the k-fold pool, and every split of
    the paper's protocol (it augments first). The rules size the shards by it too."""
    return split in ("train", "pool") or splits_copies(protocol)


def image_samples(
    pixels: np.ndarray,
    copies: list[int],
    key,
    params: AugmentParams,
    keep_original: bool,
    scanner: ScannerAugment | None = None,
) -> np.ndarray:
    """The requested copies of one image; copy ORIGINAL_WHEN_NOT_KEPT is the image itself.
    ``scanner`` changes the look of every augmented copy, never the original."""
    augmented = [c for c in copies if c >= 0]
    stack = augment_copies(pixels, max(augmented) + 1, key, params, keep_original=keep_original)[
        augmented
    ]
    if ORIGINAL_WHEN_NOT_KEPT in copies:
        stack = np.concatenate([pixels[None], stack])
    ordered = ([ORIGINAL_WHEN_NOT_KEPT] if ORIGINAL_WHEN_NOT_KEPT in copies else []) + augmented
    untouched = (0, ORIGINAL_WHEN_NOT_KEPT) if keep_original else (ORIGINAL_WHEN_NOT_KEPT,)
    return apply_to_copies(stack, ordered, key, scanner, untouched)


def shard_stacks(split_table: pd.DataFrame, manifest: pd.DataFrame, spec: ShardSpec, cfg: dict):
    """Decode, cut to the lesion region (data.roi), resize and augment the images of one shard,
    one image at a time: (image_id, copy indices, label index, (copies, S, S) uint8 stack). Train
    copies (and all paper copies) are augmented."""
    data, augment, split = (
        DataSettings.of(cfg["data"]),
        AugmentSettings.of(cfg["augment"]),
        SplitSettings.of(cfg["split"]),
    )
    size, classes = data.image_size, list(data.classes)
    params = AugmentParams.from_config(augment.transforms)
    scanner = ScannerAugment.from_config(augment.scanner)
    preprocess = Preprocess.from_config(data.preprocess)
    keep_original = augment.keep_original
    rule = RoiRule.of(data)
    rows = manifest.set_index("image_id", drop=False)
    labels = split_table.drop_duplicates("image_id").set_index("image_id")["label"]
    augmented = is_augmented(spec.split, split.protocol)
    for image_id, copies in plan_shard(split_table, spec, augment, split):
        row = rows.loc[image_id]
        pixels = model_input(row["path"], size, preprocess, Region.from_columns(row), rule)
        if augmented:
            key = [augment.seed, stable_int("image", image_id)]
            stack = image_samples(pixels, copies, key, params, keep_original, scanner)
        else:
            stack = pixels[None]
        yield image_id, copies, classes.index(labels[image_id]), stack


def build_shard(
    split_table: pd.DataFrame, manifest: pd.DataFrame, spec: ShardSpec, cfg: dict
) -> dict[str, np.ndarray]:
    """One shard's arrays in memory (tests and benches; the rule streams: stream_shard)."""
    size = DataSettings.of(cfg["data"]).image_size
    images, label_ids, ids, copy_index = [], [], [], []
    for image_id, copies, label, stack in shard_stacks(split_table, manifest, spec, cfg):
        images.append(stack)
        label_ids += [label] * len(copies)
        ids += [image_id] * len(copies)
        copy_index += copies
    return {
        "images": np.concatenate(images) if images else np.zeros((0, size, size), np.uint8),
        "labels": np.asarray(label_ids, dtype=np.int8),
        "image_ids": np.asarray(ids, dtype=str),
        "copy_index": np.asarray(copy_index, dtype=np.int16),
    }


def stream_shard(
    split_table: pd.DataFrame, manifest: pd.DataFrame, spec: ShardSpec, cfg: dict, path, log=None
) -> dict:
    """Write one shard image by image (the same file build_shard + write_shard would write), so
    the job holds one image's copies, never the shard. Returns its samples' count and images."""
    size = DataSettings.of(cfg["data"]).image_size
    plan = plan_shard(split_table, spec, cfg["augment"], cfg["split"])
    total = sum(len(copies) for _, copies in plan)
    writer = NpzWriter(path, {"images": ((total, size, size), np.uint8)})
    progress = Progress(f"shard {spec.split}/{spec.shard}", total, "samples", log)
    label_ids, ids, copy_index = [], [], []
    try:
        for image_id, copies, label, stack in shard_stacks(split_table, manifest, spec, cfg):
            writer.write("images", len(ids), stack)
            label_ids += [label] * len(copies)
            ids += [image_id] * len(copies)
            copy_index += copies
            progress.update(len(ids))
        writer.close(
            {
                "meta": np.asarray(json.dumps(shard_meta(spec, cfg))),
                "labels": np.asarray(label_ids, dtype=np.int8),
                "image_ids": np.asarray(ids, dtype=str),
                "copy_index": np.asarray(copy_index, dtype=np.int16),
            }
        )
    except BaseException:
        writer.abort()
        raise
    return {"samples": total, "images": len(plan)}


def shard_meta(spec: ShardSpec, cfg: dict) -> dict:
    data, augment, split = (
        DataSettings.of(cfg["data"]),
        AugmentSettings.of(cfg["augment"]),
        SplitSettings.of(cfg["split"]),
    )
    protocol = split.protocol
    return {
        "protocol": protocol,
        "leaky": is_leaky(protocol),
        "split": spec.split,
        "shard": spec.shard,
        "n_shards": spec.n_shards,
        "seed": augment.seed,
        "image_size": data.image_size,
        "classes": list(data.classes),
    }


def write_shard(path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write atomically, so a killed job never leaves a shard a later run would trust."""
    tmp = f"{path}.tmp.npz"
    np.savez(tmp, meta=np.asarray(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


def read_shard_meta(path) -> dict:
    with np.load(path, allow_pickle=False) as shard:
        return json.loads(str(shard["meta"]))


def load_shards(paths) -> dict:
    """Concatenate shards in the order given (the rule's input order, which is fixed). The images
    stay on disk (busflow.store.Rows, read batch by batch); labels, ids and copies are loaded."""
    parts = {"images": [], "labels": [], "image_ids": [], "copy_index": []}
    for path in paths:
        shard = open_npz(path)
        for key in parts:
            parts[key].append(shard[key])
    arrays = {key: np.concatenate(values) for key, values in parts.items() if key != "images"}
    return {"images": concat_rows(parts["images"]), **arrays}
