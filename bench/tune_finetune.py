"""Tune fine-tuning (block5 + head, SGD) on the validation folds only (the test folds are never read).

For each fold, starts from that fold's trained transfer model of a finished k-fold run
(``results/folds/<k>/models/transfer.keras``, trained on the fold's train samples only), builds the
workflow's own block5 trainer on the cached block4 features (``results/features/pool.npz``) and
trains it with SGD, printing the fold mean of validation AUC / accuracy / log-loss after every epoch.
Variants are the config keys of ``training.finetune`` (learning_rate, momentum, epochs).

    python bench/tune_finetune.py --run runs/busi-cv5 --folds 5 --lr 1e-4 --momentum 0.9 --epochs 6 \
        [--head-epochs N] [--json out.jsonl]
    python bench/tune_finetune.py --run runs/busi-cv5 --score-saved   # the run's own models, for reference

``--head-epochs N`` starts instead from a fresh head trained N epochs on the fold's train samples
(a head that has not yet driven the training loss to zero leaves block5 some gradient).
"""

import argparse
import time
from pathlib import Path

import keras
import numpy as np
import yaml
from val_folds import emit, load_run, val_scores

from busflow import models
from busflow.folds import select_samples
from busflow.model_jobs import warm_up_head
from busflow.training import epoch_order


def fresh_head(head, train, val, epochs, init_seed, head_settings):
    """The finetune job's warm-up (busflow.model_jobs.warm_up_head) with the initial weights drawn
    under ``init_seed``; prints the warmed-up head's own validation scores."""
    keras.utils.set_random_seed(init_seed)
    warm_up_head(head, (train["bottleneck"], train["labels"]), epochs, head_settings, jit_compile="auto")
    auc, acc, loss = val_scores(head, val["bottleneck"], val["labels"])
    print(f"fresh head after {epochs} epochs: val auc {auc:.4f} acc {acc:.4f} loss {loss:.4f}", flush=True)


def run_fold(arrays, table, fold, selection, args):
    train, val = (select_samples(arrays, table, fold, role, selection) for role in ("train", "val"))
    classifier = keras.models.load_model(f"{args.run}/results/folds/{fold}/models/transfer.keras")
    base, head = classifier.get_layer(models.BASE_NAME), classifier.get_layer(models.HEAD_NAME)
    if args.head_epochs:
        fresh_head(head, train, val, args.head_epochs, args.head_init_seed, args.head_settings)
    keras.utils.set_random_seed(args.seed)
    return sgd_curve(models.build_block5_trainer(base, head), train, val, fold, args)


def sgd_curve(trainer, train, val, fold, args) -> np.ndarray:
    """Trains ``trainer`` with SGD on ``train`` and returns its (epochs + 1, 3) validation scores
    (AUC, accuracy, log-loss); row 0 is before the first epoch."""
    models.compile_binary(trainer, models.make_optimizer("sgd", args.lr, args.momentum))
    per_epoch = [val_scores(trainer, val["x"], val["labels"])]
    for epoch in range(args.epochs):
        started = time.perf_counter()
        order = epoch_order(len(train["labels"]), args.seed, epoch)
        trainer.fit(train["x"][order], train["labels"][order], batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
        per_epoch.append(val_scores(trainer, val["x"], val["labels"]))
        auc, acc, loss = per_epoch[-1]
        print(f"fold {fold} epoch {epoch + 1}: val auc {auc:.4f} acc {acc:.4f} loss {loss:.4f} ({time.perf_counter() - started:.0f} s)", flush=True)
    return np.asarray(per_epoch)


def curve_summary(curves: np.ndarray) -> dict:
    """The record's fold mean per epoch (epoch 0 = before fine-tuning) and last-epoch AUC and
    accuracy per fold."""
    mean = curves.mean(axis=0)
    return {"val_mean_per_epoch": [{"epoch": e, "auc": round(float(a), 4), "acc": round(float(c), 4), "loss": round(float(lo), 4)}
                                   for e, (a, c, lo) in enumerate(mean)],
            "val_auc_per_fold_last_epoch": [round(float(a), 4) for a in curves[:, -1, 0]],
            "val_acc_per_fold_last_epoch": [round(float(c), 4) for c in curves[:, -1, 1]]}


def add_sgd_arguments(ap: argparse.ArgumentParser) -> None:
    """The options tune_finetune and tune_block4 share."""
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--head-init-seed", type=int, default=3,
                    help="global seed before the fresh head is built: 3 is training.finetune.seed, as in the workflow")
    ap.add_argument("--config", default="config/paper.yaml", help="its training.transfer settings train the fresh head")
    ap.add_argument("--json", help="append one JSON line to this file")


def score_saved_models(arrays, table, selection, args):
    """Validation scores of the run's own saved transfer and finetune models: the reference."""
    scores = {}
    for name in ("transfer", "finetune"):
        rows = []
        for fold in range(args.folds):
            val = select_samples(arrays, table, fold, "val", selection)
            classifier = keras.models.load_model(f"{args.run}/results/folds/{fold}/models/{name}.keras")
            trainer = models.build_block5_trainer(classifier.get_layer(models.BASE_NAME), classifier.get_layer(models.HEAD_NAME))
            rows.append(val_scores(trainer, val["x"], val["labels"]))
        auc, acc, loss = np.mean(rows, axis=0)
        scores[name] = {"auc": round(float(auc), 4), "acc": round(float(acc), 4), "loss": round(float(loss), 4),
                        "per_fold_auc": [round(float(r[0]), 4) for r in rows]}
    return {"run": args.run, "saved_models_val_mean": scores}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="a finished k-fold run folder (pool features, split.csv, fold models)")
    ap.add_argument("--folds", type=int, default=5)
    add_sgd_arguments(ap)
    ap.add_argument("--head-epochs", type=int, default=0,
                    help="start from a fresh head trained this many epochs instead of the run's transfer head")
    ap.add_argument("--keep-original", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--score-saved", action="store_true", help="only score the run's saved transfer and finetune models")
    args = ap.parse_args()
    started = time.perf_counter()
    args.head_settings = yaml.safe_load(Path(args.config).read_text())["training"]["transfer"]
    arrays, table, selection = load_run(args.run, {"x": "block4", "bottleneck": "bottleneck"}, args.folds, args.keep_original)
    if args.score_saved:
        emit(score_saved_models(arrays, table, selection, args), args.json)
        return
    curves = np.stack([run_fold(arrays, table, fold, selection, args) for fold in range(args.folds)])
    record = {"run": args.run, "head_epochs": args.head_epochs or "transfer model", "head_init_seed": args.head_init_seed, "lr": args.lr, "momentum": args.momentum, "batch": args.batch, "epochs": args.epochs,
              **curve_summary(curves), "seconds": round(time.perf_counter() - started, 1)}
    emit(record, args.json)


if __name__ == "__main__":
    main()
