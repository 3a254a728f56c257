"""Test-time augmentation: a test sample's probability is the mean over the sample itself and
``copies`` augmented views of it, drawn with the training augmentation's transforms.

Views are seeded by (augment seed, image id, copy index) under their own "tta" key, so they are
the same in every run and fold, and differ from the training copies of the same image. Only the
model's input changes: no label is read, so this is legitimate on held-out images (3 views were
chosen on BUSI's validation folds: docs/results/experiments.md).
"""

from collections.abc import Callable

import numpy as np

from busflow.augment.affine import AugmentParams, augment_copies
from busflow.config.sections import AugmentSettings
from busflow.hashing import stable_int
from busflow.runtime.progress import Progress


def tta_settings(copies: int, augment_cfg: dict) -> dict:
    """What a job needs to draw the views: the count and the training augmentation's transforms and
    seed (left out when off, so that the augmentation settings do not re-run an evaluation without
    views)."""
    if copies == 0:
        return {"copies": 0}
    augment = AugmentSettings.of(augment_cfg)
    return {"copies": copies, "transforms": augment.transforms, "seed": augment.seed}


def view_count(tta: dict | None) -> int:
    """How many augmented views each sample gets (0: none)."""
    return (tta or {}).get("copies", 0)


def views(images: np.ndarray, image_ids, copy_index, tta: dict) -> np.ndarray:
    """(n * (copies + 1), H, W) uint8: each sample followed by its ``copies`` augmented views."""
    params = AugmentParams.from_config(tta["transforms"])
    stacks = [
        augment_copies(
            image,
            tta["copies"] + 1,
            [tta["seed"], stable_int("tta", image_id, int(copy))],
            params,
            keep_original=True,
        )
        for image, image_id, copy in zip(images, image_ids, copy_index)
    ]
    return np.concatenate(stacks) if stacks else np.zeros((0, *images.shape[1:]), np.uint8)


def predict_with_tta(
    predict: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    image_ids,
    copy_index,
    tta: dict | None,
    chunk: int = 256,
) -> np.ndarray:
    """Each sample's probability: ``predict`` of the sample alone, or with
    ``tta`` the mean over its views."""
    return predict_each_with_tta([predict], images, image_ids, copy_index, tta, chunk)[0]


def predict_each_with_tta(
    predictors: list[Callable[[np.ndarray], np.ndarray]],
    images: np.ndarray,
    image_ids,
    copy_index,
    tta: dict | None,
    chunk: int = 256,
) -> list[np.ndarray]:
    """``predict_with_tta`` for several models (e.g. every fold's) on the same samples. The views
    are drawn once, ``chunk`` samples at a time (read then, if on disk), so memory stays at
    ``chunk * (copies + 1)`` images however many samples and views there are."""
    copies = view_count(tta)
    parts = [[] for _ in predictors]
    progress = Progress("predict", len(images))
    for start in range(0, len(images), chunk):
        rows = slice(start, start + chunk)
        # Images may be on disk (busflow.store.Rows): only this chunk is read.
        batch = np.asarray(images[rows])
        stack = views(batch, image_ids[rows], copy_index[rows], tta) if copies else batch
        for part, predict in zip(parts, predictors):
            part.append(np.asarray(predict(stack)).ravel().reshape(-1, copies + 1).mean(axis=1))
        progress.update(min(start + chunk, len(images)))
    return [np.concatenate(part) if part else np.zeros(0) for part in parts]
