"""One validation-fold experiment: a config overlay, scored on a finished k-fold run's \
validation folds.

An experiment is a config overlay (e.g. ``training: {finetune: {head_epochs: 1}}`` or
``evaluation: {tta_copies: 3}``), merged over the config files the run was made with. For each fold,
the chosen models are trained by the workflow's own job functions on the fold's training samples
(the run's pool shards, cached features and split.csv), into ``RUN/experiments/NAME/``, and scored
on the fold's validation images, the way evaluation scores test images (test-time views included).
The test folds are never read. One JSON line per experiment goes to the log; conclusions go to
docs/results/experiments.md.

    python bench/experiment.py --run runs/busi-cv5 \
        --configfile config/paper.yaml config/busi_cpu_224.yaml \
        --overlay my_overlay.yaml --models transfer finetune [--name NAME] \
        [--log bench/results/experiments.jsonl]

A model not in --models is taken from the run (finetune starts from the run's transfer model).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from sklearn.metrics import log_loss, roc_auc_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from busflow.data.sites import fold_count  # noqa: E402
from busflow.models.registry import model_names, selected_models  # noqa: E402
from busflow.runtime.doctor import load_config  # noqa: E402
from busflow.runtime.start import select_backend  # noqa: E402

MODELS = tuple(model_names())

# What an experiment may change: the run's shards, features and split are reused as they are, so an
# overlay of data, split, augment (other than test-time views) or weights would not take effect.
OVERLAY_SECTIONS = {"training", "evaluation"}


def check_overlay(overlay: dict) -> None:
    ignored = sorted(set(overlay) - OVERLAY_SECTIONS)
    if ignored:
        raise SystemExit(
            f"overlay sections {', '.join(ignored)} would not take effect: "
            "experiments reuse the run's shards, features and split. Make a run with "
            "them instead (snakemake --directory ...)."
        )


def pool_shards(run: Path) -> list[str]:
    """The run's k-fold pool shards, in shard order (the rules' input order)."""
    paths = (run / "results/shards/pool").glob("*.npz")
    return sorted(map(str, paths), key=lambda path: int(Path(path).stem))


def train(model: str, fold: int, config: dict, run: Path, out_dir: Path, selection: dict) -> Path:
    """Train one model on one fold with the workflow's job function; returns the saved model."""
    from busflow.jobs import training as model_jobs
    from busflow.models.registry import PIXELS, model_spec, training_run
    from busflow.models.weights import resolve_weights_file

    out = {
        "model": str(out_dir / f"{model}.keras"),
        "history": str(out_dir / f"{model}.csv"),
        "checkpoint": str(out_dir / f"{model}.checkpoint"),
    }
    features = str(run / "results/features/pool.npz")
    spec = model_spec(model)
    source = pool_shards(run) if spec.reads == (PIXELS,) else features
    inputs = {"train": source, "val": source}
    if spec.starts_from:
        retrained = spec.starts_from in config["experiment_models"]
        start_dir = out_dir if retrained else run / f"results/folds/{fold}/models"
        inputs["start"] = str(start_dir / f"{spec.starts_from}.keras")
    weights_file = resolve_weights_file(config["vgg16_weights"]) if spec.pretrained else None
    run_settings = training_run(config, spec, weights_file, selection)
    model_jobs.train_model_job(model, inputs, run_settings, out)
    return Path(out["model"])


def validation_scores(model_file: Path, val: dict, tta: dict) -> dict:
    """AUC, accuracy at 0.5 and log-loss on the fold's validation images (with test-time views)."""
    import keras

    import busflow.models.builders  # noqa: F401  (registers VGGInput: the VGG16 models load with it)
    from busflow.evaluate.tta import predict_with_tta

    model = keras.models.load_model(model_file)
    probabilities = predict_with_tta(
        lambda x: model.predict(x[..., None], batch_size=64, verbose=0).ravel(),
        val["images"],
        val["image_ids"],
        val["copy_index"],
        tta,
    )
    labels = val["labels"].astype(int)
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    return {
        "n": int(len(labels)),
        "auc": float(roc_auc_score(labels, probabilities)),
        "accuracy": float(((probabilities >= 0.5) == labels).mean()),
        "log_loss": float(log_loss(labels, clipped, labels=[0, 1])),
    }


def run_experiment(
    run: Path, config: dict, models: list[str], name: str, folds: list[int] | None = None
) -> dict:
    """Train ``models`` on each fold and score them and every model the run selects (config
    ``models``) on the validation folds."""
    from busflow.augment.samples import fold_selection, load_role
    from busflow.evaluate.tta import tta_settings

    if fold_count(config) < 2:
        raise SystemExit(
            "experiments score validation folds: use a finished k-fold or leave-one-site-out run"
        )
    if config["split"]["protocol"] != "leak_free":
        raise SystemExit("the paper protocol validates on its test copies: use leak_free")
    tta = tta_settings(config["evaluation"]["tta_copies"], config["augment"])
    # A run of a subset of models (config models) has no model files of the others.
    selected = set(selected_models(config)) | set(models)
    scored = [model for model in MODELS if model in selected]
    per_fold = {model: [] for model in scored}
    # finetune starts from a retrained transfer only
    config = {**config, "experiment_models": list(models)}
    for fold in folds if folds is not None else range(fold_count(config)):
        selection = fold_selection(config, str(run / "results/split.csv"), fold)
        out_dir = run / "experiments" / name / f"fold{fold}"
        val, _ = load_role(pool_shards(run), "val", selection)
        for model in scored:
            trained = (
                train(model, fold, config, run, out_dir, selection) if model in models else None
            )
            model_file = trained or run / f"results/folds/{fold}/models/{model}.keras"
            per_fold[model].append({"fold": fold, **validation_scores(model_file, val, tta)})
    return {
        "name": name,
        "run": str(run),
        "trained": models,
        "per_fold": per_fold,
        "val_mean": {
            model: {
                key: round(float(np.mean([row[key] for row in rows])), 4)
                for key in ("auc", "accuracy", "log_loss")
            }
            for model, rows in per_fold.items()
        },
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, type=Path, help="a finished k-fold run folder")
    parser.add_argument("--configfile", nargs="*", default=[], help="the run's config files")
    parser.add_argument("--overlay", type=Path, help="the experiment (none: the run's settings)")
    parser.add_argument("--models", nargs="*", default=[], choices=MODELS, help="to retrain")
    parser.add_argument("--folds", nargs="*", type=int, help="only these folds (default: all)")
    parser.add_argument("--name", help="folder under RUN/experiments/ (default: overlay's stem)")
    parser.add_argument("--log", type=Path, help="append the JSON line here")
    args = parser.parse_args(argv)
    overlay = yaml.safe_load(args.overlay.read_text()) if args.overlay else {}
    check_overlay(overlay)
    config = load_config(args.configfile, overlay)
    select_backend(config["training"]["backend"])  # before the jobs import Keras
    started = time.perf_counter()
    name = args.name or (args.overlay.stem if args.overlay else "run-as-is")
    record = run_experiment(args.run, config, args.models, name, args.folds)
    record.update(overlay=overlay, seconds=round(time.perf_counter() - started, 1))
    line = json.dumps(record)
    print(line)
    if args.log:
        with args.log.open("a") as log:
            log.write(line + "\n")


if __name__ == "__main__":
    main()
