"""Does fine-tuning block4 as well as block5 help? Scored on the validation folds only (the test
folds are never scored).

The workflow fine-tunes block5 alone, as the paper does. This bench unfreezes block4 too: it
computes block3_pool features of every pool sample once (from the run's shards, with the run's
own VGG16 base), then per fold warms up a fresh head exactly as the finetune job does
(``head_epochs``), trains block4 + block5 + head with SGD on the fold's train samples and prints
the validation AUC / accuracy / log-loss after every epoch. Compare with the run's own
block5-only models: ``python bench/tune_finetune.py --run RUN --score-saved``.

    python bench/tune_block4.py --run runs/busi-cv5 --folds 0 1 2 3 4 --head-epochs 3 --lr 1e-4 \
        --epochs 6 [--json out.jsonl]

Cost: block4 + block5 is about 4.5x block5's training FLOPs per sample (34 against 7.4 GFLOP at
224 px), and the block3 cache takes 2 bytes x 28 x 28 x 256 per sample (1 GB for BUSI x 4).
"""

import argparse
import time
from pathlib import Path

import keras
import numpy as np
import yaml
from tune_finetune import add_sgd_arguments, curve_summary, fresh_head, sgd_curve
from val_folds import emit, load_run

from busflow import models
from busflow.folds import select_samples
from busflow.jobs import load_split

BLOCK3_OUTPUT = "block3_pool"
TRAINED_BLOCKS = ("block4", "block5")


def block3_features(run: str, base: keras.Model, arrays: dict, batch_size: int) -> np.ndarray:
    """block3_pool output (float16) of every pool sample, in pool.npz's order (checked)."""
    shards = sorted(Path(f"{run}/results/shards/pool").glob("*.npz"), key=lambda p: int(p.stem))
    data, _ = load_split([str(p) for p in shards])
    for key in ("image_ids", "copy_index"):
        if not np.array_equal(data[key], arrays[key]):
            raise SystemExit(f"{run}: the pool shards and results/features/pool.npz disagree on {key}; re-run the workflow")
    extractor = block3_extractor(base, data["images"].shape[1])
    return extractor.predict(data["images"][..., None], batch_size=batch_size, verbose=0).astype(np.float16)


def block3_extractor(base: keras.Model, image_size: int) -> keras.Model:
    """Pixels -> block3_pool output of the frozen base."""
    upto_block3 = keras.Model(base.inputs, base.get_layer(BLOCK3_OUTPUT).output)
    inputs = models.pixel_input(image_size)
    return keras.Model(inputs, upto_block3(models.VGGInput()(inputs)))


def build_block45_trainer(base: keras.Model, head: keras.Model) -> keras.Model:
    """block3 features -> block4 + block5 (trainable) -> head; layers shared with ``base``.

    Mirrors ``models.build_block5_trainer`` rather than generalizing it: busflow/models.py is an
    input of the feature and training rules, so a bench-only change there would re-train every
    user's finished run."""
    inputs = models.feature_input(base.get_layer(BLOCK3_OUTPUT).output.shape[1:], "block3")
    x = inputs
    for layer in base.layers:
        if layer.name.startswith(TRAINED_BLOCKS):
            layer.trainable = True
            x = layer(x)
    head.trainable = True
    return keras.Model(inputs, head(x), name="finetune_block45")


def run_fold(arrays, table, fold, selection, args):
    train, val = (select_samples(arrays, table, fold, role, selection) for role in ("train", "val"))
    classifier = keras.models.load_model(f"{args.run}/results/folds/{fold}/models/transfer.keras")
    base, head = classifier.get_layer(models.BASE_NAME), classifier.get_layer(models.HEAD_NAME)
    fresh_head(head, train, val, args.head_epochs, args.head_init_seed, args.head_settings)
    keras.utils.set_random_seed(args.seed)
    return sgd_curve(build_block45_trainer(base, head), train, val, fold, args)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="a finished k-fold run folder (pool shards and features, split.csv, fold models)")
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="which folds to tune on")
    ap.add_argument("--n-folds", type=int, default=5, help="the run's evaluation.folds")
    add_sgd_arguments(ap)
    ap.add_argument("--head-epochs", type=int, default=3)
    args = ap.parse_args()
    started = time.perf_counter()
    args.head_settings = yaml.safe_load(Path(args.config).read_text())["training"]["transfer"]
    arrays, table, selection = load_run(args.run, {"bottleneck": "bottleneck"}, args.n_folds, keep_original=True)
    base = keras.models.load_model(f"{args.run}/results/folds/0/models/transfer.keras").get_layer(models.BASE_NAME)
    arrays["x"] = block3_features(args.run, base, arrays, batch_size=32)
    print(f"block3 features {arrays['x'].shape} in {time.perf_counter() - started:.0f} s", flush=True)
    curves = np.stack([run_fold(arrays, table, fold, selection, args) for fold in args.folds])
    record = {"run": args.run, "trained": "block4 + block5 + head", "folds": args.folds, "head_epochs": args.head_epochs,
              "head_init_seed": args.head_init_seed, "lr": args.lr, "momentum": args.momentum, "batch": args.batch, "epochs": args.epochs,
              **curve_summary(curves), "seconds": round(time.perf_counter() - started, 1)}
    emit(record, args.json)


if __name__ == "__main__":
    main()
