"""Tune the transfer head on the validation folds only (the test folds are never read).

Trains head variants on each fold's train samples of cached pool features (the workflow's own
``results/features/pool.npz`` and ``results/split.csv``) and prints, per variant, the mean over the
folds of the validation AUC / accuracy / log-loss at the last epoch and at the best-val-loss epoch.
Each variant's choices are the workflow's config keys of ``training.transfer``.

    python bench/tune_heads.py --run runs/busi-cv5 --folds 5 [--variants NAME ...] [--json out.json]
"""

import argparse
import time

import keras
import numpy as np
from val_folds import emit, load_run, val_scores

from busflow import models
from busflow.folds import select_samples

PAPER = dict(pooling="flatten", optimizer="rmsprop", learning_rate=1e-3, dropout=0.5, l2=0.0, copies="all")
VARIANTS = {
    "paper: flatten, rmsprop 1e-3": PAPER,
    "flatten, rmsprop 1e-4": {**PAPER, "learning_rate": 1e-4},
    "flatten, adam 1e-4, l2 1e-3": {**PAPER, "optimizer": "adam", "learning_rate": 1e-4, "l2": 1e-3},
    "gap, rmsprop 1e-3": {**PAPER, "pooling": "average"},
    "gap, adam 1e-4": {**PAPER, "pooling": "average", "optimizer": "adam", "learning_rate": 1e-4},
    "gap, adam 1e-3, l2 1e-3": {**PAPER, "pooling": "average", "optimizer": "adam", "learning_rate": 1e-3, "l2": 1e-3},
    "gap, adam 1e-4, originals only": {**PAPER, "pooling": "average", "optimizer": "adam", "learning_rate": 1e-4, "copies": "originals"},
    "flatten, rmsprop 1e-4, originals only": {**PAPER, "learning_rate": 1e-4, "copies": "originals"},
}


def run_fold(arrays, table, fold, selection, variant, epochs, batch):
    train, val = (select_samples(arrays, table, fold, role, selection) for role in ("train", "val"))
    if variant["copies"] == "originals":
        keep = train["copy_index"] == 0
        train = {k: v[keep] for k, v in train.items()}
    keras.utils.set_random_seed(2)
    model = models.build_head(train["x"].shape[1:], variant["dropout"], variant["pooling"], variant["l2"])
    models.compile_binary(model, models.make_optimizer(variant["optimizer"], variant["learning_rate"]))
    per_epoch = []
    for _ in range(epochs):
        model.fit(train["x"], train["labels"], batch_size=batch, epochs=1, verbose=0, shuffle=True)
        per_epoch.append(val_scores(model, val["x"], val["labels"], batch_size=256))
    per_epoch = np.asarray(per_epoch)
    best = int(np.argmin(per_epoch[:, 2]))
    return per_epoch[-1], per_epoch[best], best + 1


def summary(rows, index):
    mean = np.mean([r[index] for r in rows], axis=0)
    return {"auc": round(float(mean[0]), 4), "acc": round(float(mean[1]), 4), "loss": round(float(mean[2]), 4)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="a workflow run folder with results/features/pool.npz and results/split.csv")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--keep-original", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--json", help="append one JSON line per variant to this file")
    args = ap.parse_args()
    arrays, table, selection = load_run(args.run, {"x": "bottleneck"}, args.folds, args.keep_original)
    for name in args.variants:
        started = time.perf_counter()
        rows = [run_fold(arrays, table, fold, selection, VARIANTS[name], args.epochs, args.batch) for fold in range(args.folds)]
        record = {"run": args.run, "variant": name, "settings": VARIANTS[name], "epochs": args.epochs,
                  "val_last": summary(rows, 0), "val_best_loss_epoch": {**summary(rows, 1), "epochs": [r[2] for r in rows]},
                  "seconds": round(time.perf_counter() - started, 1)}
        emit(record, args.json)


if __name__ == "__main__":
    main()
