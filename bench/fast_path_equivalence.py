"""Benchmark: the fast path (mixed precision, jit, cached VGG16 features) does not change the \
science.

Not a test. On the demo data, exactly as the workflow makes it (busflow.demo_data with the demo
section of the config, then manifest, leak-free split, augmented shards at data.image_size), it
trains with the workflow's own builders and busflow.training.train_resumable:

- baseline, (a) float32 and (b) mixed_bfloat16, on uint8 pixels;
- transfer on cached bottleneck features (VGG16 with the demo's random He-normal init, as
  vgg16_weights: none), (a) float32 and (b) mixed_bfloat16: features extracted once, as the
  features rule does (bottleneck stored as float32), then the head trained on them;
- transfer (c), the slow path, float32: the whole classifier (frozen VGG16 + the same head)
  trained end to end on the pixels, the VGG16 forward pass recomputed for every batch.

Each trained model is saved, reloaded and evaluated on the test split as evaluate_model does:
accuracy and AUC with the bootstrap CIs of busflow.evaluation.evaluate_predictions. Each fast
figure is checked against its reference (baseline b vs a; transfer a vs c, b vs c, b vs a): is it
inside the reference's CI, and is the reference inside its CI? Also reported: how many test images
get the same predicted label, and the largest difference of a predicted probability.

Wall times per run: ``extract`` (cached runs: features of train and val), ``train``
(train_resumable: every epoch's fit, validation and checkpoint, as in the workflow) and
``save_reload_predict`` (the test split); the bootstrap is not timed.

jit_compile is 'auto' (busflow.acceleration.resolve_jit). Epochs default to the config's
(demo: baseline 20, transfer 30); --baseline-epochs / --transfer-epochs use fewer.

Usage (from the repo root):
    .venv/bin/python bench/fast_path_equivalence.py [--config config/config.yaml]
        [--baseline-epochs N] [--transfer-epochs N] [--no-slow] [--backend tensorflow|jax|torch]
        [--json [PATH]]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
METRICS = ("accuracy", "auc")
FAST_VARIANTS = ("float32", "mixed_bfloat16")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--config",
        default=str(REPO_ROOT / "config" / "config.yaml"),
        help="workflow config (the demo's)",
    )
    p.add_argument(
        "--baseline-epochs", type=int, help="default: training.baseline.epochs of the config"
    )
    p.add_argument(
        "--transfer-epochs", type=int, help="default: training.transfer.epochs of the config"
    )
    p.add_argument(
        "--no-slow",
        action="store_true",
        help="skip (c), the end-to-end transfer run (the slow part)",
    )
    p.add_argument(
        "--backend",
        choices=("tensorflow", "jax", "torch"),
        help="default: $KERAS_BACKEND, else tensorflow",
    )
    p.add_argument(
        "--json",
        nargs="?",
        const="auto",
        metavar="PATH",
        help="write JSON (bare --json: bench/results/fast_path_equivalence_<cpu|device>.json)",
    )
    return p.parse_args(argv)


def import_busflow():
    try:
        import busflow  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO_ROOT))
    sys.path.insert(0, str(BENCH_DIR))


# --------------------------------------------------------------------------- data


def demo_arrays(cfg: dict, tmp: Path) -> dict:
    """{'train'|'val'|'test': shard arrays}: demo images -> manifest ->
    split -> shards, as the rules do."""
    import pandas as pd

    from busflow.demo_data import generate_demo_dataset
    from busflow.manifest import build_manifest
    from busflow.shards import ShardSpec, build_shard, load_shards, shard_meta, write_shard
    from busflow.split import assign_splits

    demo = cfg["demo"]
    generate_demo_dataset(
        tmp / "raw", n_per_class=demo["n_per_class"], size=demo["size"], seed=demo["seed"]
    )
    # CSV round trips as between the rules, so the tables are what the next rule reads.
    build_manifest(tmp / "raw", cfg["data"])["manifest"].to_csv(tmp / "manifest.csv", index=False)
    manifest = pd.read_csv(tmp / "manifest.csv", keep_default_na=False)
    assign_splits(manifest, cfg["split"]).to_csv(tmp / "split.csv", index=False)
    split_table = pd.read_csv(tmp / "split.csv", keep_default_na=False)
    arrays = {}
    for split in ("train", "val", "test"):
        n_shards = (
            cfg["augment"]["shards"] if split == "train" else 1
        )  # leak_free: val, test unaugmented
        paths = []
        for shard in range(n_shards):
            spec = ShardSpec(split, shard, n_shards)
            paths.append(tmp / f"{split}_{shard}.npz")
            write_shard(
                paths[-1], build_shard(split_table, manifest, spec, cfg), shard_meta(spec, cfg)
            )
        arrays[split] = load_shards(paths)
    return arrays


# --------------------------------------------------------------------------- runs


class Run:
    """One trained and evaluated variant: timings, test metrics, test probabilities."""

    def __init__(self, model: str, variant: str, precision: str, path: str):
        self.model, self.variant, self.precision, self.path = model, variant, precision, path
        self.seconds: dict[str, float] = {}
        self.jit_compile = None
        self.record: dict = {}
        self.probabilities = None
        self.last_epoch: dict = {}

    def as_dict(self) -> dict:
        metrics = {name: self.record["metrics"][name] for name in METRICS}
        return {
            "model": self.model,
            "variant": self.variant,
            "precision": self.precision,
            "path": self.path,
            "jit_compile_effective": self.jit_compile,
            "seconds": self.seconds,
            "metrics": metrics,
            "confusion_matrix": self.record["confusion_matrix"],
            "n": self.record["n"],
            "last_epoch": self.last_epoch,
        }


def timed(run: Run, key: str, function, *args):
    started = time.perf_counter()
    result = function(*args)
    run.seconds[key] = round(time.perf_counter() - started, 2)
    return result


def train(run: Run, build_compiled, train_xy, val_xy, settings: dict, tmp: Path, add_channel: bool):
    """train_resumable with the config's seed, epochs and batch size; prints the last epoch line."""
    from busflow.training import TrainingPlan, train_resumable

    def build():
        model = build_compiled()
        run.jit_compile = bool(model.jit_compile)
        return model

    plan = TrainingPlan(
        settings["epochs"],
        settings["batch_size"],
        settings["seed"],
        tmp / f"{run.model}-{run.variant}.checkpoint",
        run.variant,
    )
    last = f"epoch {settings['epochs']}/"
    model, history = train_resumable(
        build,
        train_xy,
        val_xy,
        plan,
        add_channel=add_channel,
        log=lambda line: line.startswith(last) and print(f"  {run.variant}: {line}"),
    )
    run.last_epoch = {k: round(float(v), 4) for k, v in history.iloc[-1].items()}
    return model


def evaluate(run: Run, model, test: dict, eval_cfg: dict, tmp: Path) -> None:
    """Save, reload and predict, as the train and evaluate rules do; then the metrics with CIs."""
    import keras

    from busflow.evaluation import evaluate_predictions
    from busflow.training import save_model_atomic

    started = time.perf_counter()
    path = tmp / f"{run.model}-{run.variant}.keras"
    save_model_atomic(model, path)
    reloaded = keras.models.load_model(path)
    probabilities = reloaded.predict(
        test["images"][..., None], batch_size=eval_cfg.get("batch_size", 64), verbose=0
    )
    assert probabilities.dtype.name == "float32", probabilities.dtype
    run.seconds["save_reload_predict"] = round(time.perf_counter() - started, 2)
    run.probabilities = probabilities.ravel()
    run.record = evaluate_predictions(test["labels"], run.probabilities, eval_cfg)


def run_baseline(precision: str, data: dict, cfg: dict, settings: dict, tmp: Path) -> Run:
    from busflow import models
    from busflow.acceleration import apply_acceleration

    run = Run("baseline", precision, precision, "pixels")
    jit = apply_acceleration({"precision": precision, "jit_compile": "auto"})["jit_compile"]
    size = cfg["data"]["image_size"]

    def build():
        model = models.build_baseline(size, settings.get("dropout", 0.5))
        return models.compile_binary(
            model, models.make_optimizer(settings["optimizer"], settings["learning_rate"]), jit
        )

    xy = {split: (data[split]["images"], data[split]["labels"]) for split in ("train", "val")}
    model = timed(run, "train", train, run, build, xy["train"], xy["val"], settings, tmp, True)
    evaluate(run, model, data["test"], cfg["evaluation"], tmp)
    return run


def extract_bottleneck(data: dict, size: int, batch_size: int) -> dict:
    """features_job for train and val: the bottleneck of every sample, stored as float32."""
    from busflow import models

    extractor = models.build_feature_extractor(models.build_vgg16_base(size, None), size)
    return {
        split: extractor.predict(
            data[split]["images"][..., None], batch_size=batch_size, verbose=0
        )["bottleneck"].astype("float32")
        for split in ("train", "val")
    }


def run_transfer_cached(precision: str, data: dict, cfg: dict, settings: dict, tmp: Path) -> Run:
    """The fast path: features once, the head trained on them, then base + head assembled."""
    from busflow import models
    from busflow.acceleration import apply_acceleration

    run = Run("transfer", precision, precision, "cached bottleneck features")
    jit = apply_acceleration({"precision": precision, "jit_compile": "auto"})["jit_compile"]
    size = cfg["data"]["image_size"]
    features = timed(
        run, "extract", extract_bottleneck, data, size, cfg["training"]["feature_batch_size"]
    )

    def build():
        head = models.build_head(features["train"].shape[1:], settings.get("dropout", 0.5))
        return models.compile_binary(
            head, models.make_optimizer(settings["optimizer"], settings["learning_rate"]), jit
        )

    xy = {split: (features[split], data[split]["labels"]) for split in ("train", "val")}
    head = timed(run, "train", train, run, build, xy["train"], xy["val"], settings, tmp, False)
    head.name = models.HEAD_NAME
    classifier = models.assemble_classifier(
        models.build_vgg16_base(size, None), head, size, "transfer"
    )
    evaluate(run, classifier, data["test"], cfg["evaluation"], tmp)
    return run


def run_transfer_end_to_end(data: dict, cfg: dict, settings: dict, tmp: Path) -> Run:
    """The slow path, float32: frozen VGG16 + head trained on
    pixels, VGG16 recomputed every batch."""
    from busflow import models
    from busflow.acceleration import apply_acceleration

    run = Run("transfer", "end_to_end_float32", "float32", "end to end on pixels")
    jit = apply_acceleration({"precision": "float32", "jit_compile": "auto"})["jit_compile"]
    size = cfg["data"]["image_size"]
    feature_shape = models.build_vgg16_base(size, None).output.shape[1:]

    def build():
        # The head first, right after train_resumable seeds: it then starts from the same weights
        # and dropout seed as the cached run's head (the base's init is fixed by its own seeds).
        head = models.build_head(feature_shape, settings.get("dropout", 0.5))
        classifier = models.assemble_classifier(
            models.build_vgg16_base(size, None), head, size, "transfer"
        )
        return models.compile_binary(
            classifier, models.make_optimizer(settings["optimizer"], settings["learning_rate"]), jit
        )

    xy = {split: (data[split]["images"], data[split]["labels"]) for split in ("train", "val")}
    classifier = timed(run, "train", train, run, build, xy["train"], xy["val"], settings, tmp, True)
    evaluate(run, classifier, data["test"], cfg["evaluation"], tmp)
    return run


# --------------------------------------------------------------------------- comparison


def compare(fast: Run, reference: Run, what: str) -> dict:
    import numpy as np

    metrics = {}
    for name in METRICS:
        f, r = fast.record["metrics"][name], reference.record["metrics"][name]
        metrics[name] = {
            "fast": f["value"],
            "fast_ci": [f["ci_low"], f["ci_high"]],
            "reference": r["value"],
            "reference_ci": [r["ci_low"], r["ci_high"]],
            "fast_in_reference_ci": r["ci_low"] <= f["value"] <= r["ci_high"],
            "reference_in_fast_ci": f["ci_low"] <= r["value"] <= f["ci_high"],
        }
    threshold = fast.record["threshold"]
    same = np.mean((fast.probabilities >= threshold) == (reference.probabilities >= threshold))
    return {
        "model": fast.model,
        "fast": fast.variant,
        "reference": reference.variant,
        "what": what,
        "metrics": metrics,
        "same_label_fraction": float(same),
        "max_abs_probability_difference": float(
            np.max(np.abs(fast.probabilities - reference.probabilities))
        ),
    }


def comparisons(runs: dict) -> list[dict]:
    pairs = [
        (("baseline", "mixed_bfloat16"), ("baseline", "float32"), "mixed precision"),
        (("transfer", "float32"), ("transfer", "end_to_end_float32"), "feature caching"),
        (
            ("transfer", "mixed_bfloat16"),
            ("transfer", "end_to_end_float32"),
            "caching + mixed precision",
        ),
        (("transfer", "mixed_bfloat16"), ("transfer", "float32"), "mixed precision"),
    ]
    return [compare(runs[f], runs[r], what) for f, r, what in pairs if f in runs and r in runs]


# --------------------------------------------------------------------------- report


def print_report(report: dict) -> None:
    print(
        f"\ndevice: {report['device']['name']} ({report['device']['kind']}); backend "
        f"{report['backend']}; test n={report['data']['test_samples']} "
        f"({report['data']['test_positive']} malignant)"
    )
    print(
        f"{'model':<9}{'variant':<20}{'path':<28}{'accuracy (95% CI)':<24}{'AUC (95% CI)':<24}"
        f"{'extract s':>10}{'train s':>9}{'test s':>8}"
    )
    for run in report["runs"]:
        cells = [
            f"{m['value']:.3f} ({m['ci_low']:.3f}-{m['ci_high']:.3f})"
            for m in run["metrics"].values()
        ]
        s = run["seconds"]
        print(
            f"{run['model']:<9}{run['variant']:<20}{run['path']:<28}{cells[0]:<24}{cells[1]:<24}"
            f"{s.get('extract', 0):>10.1f}{s['train']:>9.1f}{s['save_reload_predict']:>8.1f}"
        )
    print(
        f"\n{'model':<9}{'fast':<16}{'reference':<20}{'what':<27}{'acc in ref CI / ref in CI':<27}"
        f"{'AUC in ref CI / ref in CI':<27}{'same label':>11}{'max |dp|':>10}"
    )
    for c in report["comparisons"]:
        cells = [
            f"{yes(m['fast_in_reference_ci'])} / {yes(m['reference_in_fast_ci'])}"
            for m in c["metrics"].values()
        ]
        print(
            f"{c['model']:<9}{c['fast']:<16}{c['reference']:<20}{c['what']:<27}{cells[0]:<27}{cells[1]:<27}"
            f"{c['same_label_fraction']:>11.3f}{c['max_abs_probability_difference']:>10.4f}"
        )
    print(
        "\nevery fast figure inside the reference's CI and vice versa: "
        f"{yes(report['all_within_ci'])}"
    )


def yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def write_json(report: dict, target: str) -> Path:
    if target == "auto":
        device = report["device"]
        where = (
            "cpu"
            if device["kind"] == "cpu"
            else "".join(c if c.isalnum() else "-" for c in device["name"].lower())
        )
        target = RESULTS_DIR / f"fast_path_equivalence_{where}.json"
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend or os.environ.get("KERAS_BACKEND") or "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import_busflow()
    import keras  # noqa: F401  (only now: the backend is chosen)
    import yaml
    from stages import accelerator_info, versions  # bench/stages.py: one definition of both

    cfg = yaml.safe_load(Path(args.config).read_text())
    settings = {name: dict(cfg["training"][name]) for name in ("baseline", "transfer")}
    settings["baseline"]["epochs"] = args.baseline_epochs or settings["baseline"]["epochs"]
    settings["transfer"]["epochs"] = args.transfer_epochs or settings["transfer"]["epochs"]
    started = time.perf_counter()
    runs = {}
    with tempfile.TemporaryDirectory(prefix="busflow-fastpath-") as folder:
        tmp = Path(folder)
        data = demo_arrays(cfg, tmp)
        print(
            f"data: train {len(data['train']['labels'])}, val {len(data['val']['labels'])}, "
            f"test {len(data['test']['labels'])} samples of {cfg['data']['image_size']} px"
        )
        for precision in FAST_VARIANTS:
            print(f"baseline {precision} ({settings['baseline']['epochs']} epochs)")
            runs["baseline", precision] = run_baseline(
                precision, data, cfg, settings["baseline"], tmp
            )
        for precision in FAST_VARIANTS:
            print(
                f"transfer {precision}, cached features ({settings['transfer']['epochs']} epochs)"
            )
            runs["transfer", precision] = run_transfer_cached(
                precision, data, cfg, settings["transfer"], tmp
            )
        if not args.no_slow:
            print(f"transfer float32, end to end ({settings['transfer']['epochs']} epochs)")
            runs["transfer", "end_to_end_float32"] = run_transfer_end_to_end(
                data, cfg, settings["transfer"], tmp
            )
    found = comparisons(runs)
    report = {
        "name": "fast_path_equivalence",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "device": accelerator_info(),
        "backend": keras.backend.backend(),
        "versions": versions(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "config": args.config,
        "data": {
            "demo": cfg["demo"],
            "image_size": cfg["data"]["image_size"],
            "protocol": cfg["split"]["protocol"],
            "augment_factor": cfg["augment"]["factor"],
            **{
                f"{split}_samples": len(data[split]["labels"]) for split in ("train", "val", "test")
            },
            "test_positive": int(data["test"]["labels"].sum()),
        },
        "settings": settings,
        "jit_compile_setting": "auto",
        "evaluation": cfg["evaluation"],
        "runs": [run.as_dict() for run in runs.values()],
        "comparisons": found,
        "all_within_ci": all(
            m["fast_in_reference_ci"] and m["reference_in_fast_ci"]
            for c in found
            for m in c["metrics"].values()
        ),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    print_report(report)
    if args.json:
        print(f"wrote {write_json(report, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
