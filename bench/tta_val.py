"""Does test-time augmentation help? Scored on the validation folds only (the test folds are never read).

For each fold of a finished k-fold run, the run's own three models predict the fold's validation
images: the unaugmented original alone, and the mean over the original and its first 1..C
augmented copies. The copies are the pool's (transfer and finetune from the block4 features in
``results/features/pool.npz``, so only block5 + head run; the baseline from the pool shards'
pixels): drawn with the run's training transforms under the training
seed key, where ``evaluation.tta_copies`` draws its views under a key of their own; the same
transforms, other draws. A validation image's copies are never trained on in that fold.

    python bench/tta_val.py --run runs/busi-cv5 --folds 5 [--json out.jsonl]
"""

import argparse
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from val_folds import emit, load_run

from busflow import models
from busflow.shards import load_shards

MODELS = ("baseline", "transfer", "finetune")
# Not a workflow model: the mean of the two VGG16 models' probabilities, to see whether they err apart.
ENSEMBLE = "transfer+finetune"


def val_mask(arrays, table, fold) -> np.ndarray:
    rows = table[(table["fold"] == fold) & (table["split"] == "val")]
    return np.isin(arrays["image_ids"], rows["image_id"].to_numpy())


def fold_predictions(arrays, pixels, table, fold, run) -> pd.DataFrame:
    """One row per validation sample (original and copies): each model's predicted probability."""
    mask = val_mask(arrays, table, fold)
    frame = pd.DataFrame({key: arrays[key][mask] for key in ("image_ids", "copy_index", "labels")})
    for name in MODELS[1:]:
        classifier = keras.models.load_model(f"{run}/results/folds/{fold}/models/{name}.keras")
        trainer = models.build_block5_trainer(classifier.get_layer(models.BASE_NAME), classifier.get_layer(models.HEAD_NAME))
        frame[name] = trainer.predict(arrays["x"][mask], verbose=0, batch_size=64).ravel()
    on_pixels = val_mask(pixels, table, fold)
    baseline = keras.models.load_model(f"{run}/results/folds/{fold}/models/baseline.keras")
    scored = pd.DataFrame({"image_ids": pixels["image_ids"][on_pixels], "copy_index": pixels["copy_index"][on_pixels],
                           "baseline": baseline.predict(pixels["images"][on_pixels][..., None], verbose=0, batch_size=64).ravel()})
    return frame.merge(scored, on=["image_ids", "copy_index"], validate="one_to_one").assign(fold=fold)


def scores(frame: pd.DataFrame, max_copy: int) -> dict:
    """Fold-mean val AUC and accuracy of each model (and of the transfer+finetune mean), each image
    scored by its mean over copies 0..max_copy."""
    views = frame[frame["copy_index"].between(0, max_copy)]
    per_image = views.groupby(["fold", "image_ids"]).agg(labels=("labels", "first"), **{m: (m, "mean") for m in MODELS})
    per_image[ENSEMBLE] = (per_image["transfer"] + per_image["finetune"]) / 2
    folds = per_image.groupby("fold")
    out = {}
    for name in (*MODELS, ENSEMBLE):
        aucs = folds.apply(lambda d, m=name: roc_auc_score(d["labels"], d[m]))
        accs = folds.apply(lambda d, m=name: float(((d[m] > 0.5) == d["labels"]).mean()))
        out[name] = {"auc": round(float(aucs.mean()), 4), "acc": round(float(accs.mean()), 4),
                     "per_fold_auc": [round(float(a), 4) for a in aucs]}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="a finished k-fold run folder (pool features, split.csv, fold models)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--json", help="append one JSON line to this file")
    args = ap.parse_args()
    started = time.perf_counter()
    arrays, table, _ = load_run(args.run, {"x": "block4"}, args.folds, keep_original=True)
    pixels = load_shards(sorted(Path(args.run, "results/shards/pool").glob("*.npz"), key=lambda p: int(p.stem)))
    frame = pd.concat([fold_predictions(arrays, pixels, table, fold, args.run) for fold in range(args.folds)], ignore_index=True)
    copies = int(frame["copy_index"].max())
    record = {"run": args.run, "val_mean_by_views": {f"original + {c} copies": scores(frame, c) for c in range(copies + 1)},
              "seconds": round(time.perf_counter() - started, 1)}
    emit(record, args.json)


if __name__ == "__main__":
    main()
