"""The fast path (mixed precision, jit, cached VGG16 features) does not change the science.

Why the workflow trains its VGG16 heads on features cached once and may train in bfloat16: on the
demo data exactly as the workflow makes it (demo images, manifest, leak-free split, augmented
shards), with the workflow's builders and busflow.models.training.train_resumable, it trains
- baseline (a) float32 and (b) mixed_bfloat16 on uint8 pixels;
- transfer (a) float32 and (b) mixed_bfloat16 on cached bottleneck features (VGG16 with the
  demo's seeded He-normal init, as vgg16_weights: none; features stored as float32);
- transfer (c), the slow path, float32: frozen VGG16 + the same head trained end to end on
  pixels. Its head is built first after the seed, so it starts from the cached run's weights.
Each model is saved, reloaded and evaluated on the test split with evaluate_predictions
(bootstrap CIs). Each fast figure is checked against its reference's CI and the other way round;
also how many test images keep their label and the largest probability difference. jit_compile
is 'auto'. The backend is KERAS_BACKEND's, else the config's training.backend.

    python bench/fast_path_equivalence.py [--config config/config.yaml] [--baseline-epochs N]
        [--transfer-epochs N] [--no-slow] [--json [PATH]]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # busflow from the checkout
from busflow.report.estimates import format_metric  # noqa: E402
from busflow.runtime.start import select_backend  # noqa: E402

METRICS = ("accuracy", "auc")
PRECISIONS = ("float32", "mixed_bfloat16")
# (fast run, reference run, what the fast one changes)
PAIRS = [
    (("baseline", "mixed_bfloat16"), ("baseline", "float32"), "mixed precision"),
    (("transfer", "float32"), ("transfer", "end_to_end"), "feature caching"),
    (("transfer", "mixed_bfloat16"), ("transfer", "end_to_end"), "caching + mixed precision"),
    (("transfer", "mixed_bfloat16"), ("transfer", "float32"), "mixed precision"),
]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    p.add_argument("--baseline-epochs", type=int, help="default: the config's")
    p.add_argument("--transfer-epochs", type=int, help="default: the config's")
    p.add_argument("--no-slow", action="store_true", help="skip (c), the end-to-end run")
    p.add_argument("--json", nargs="?", const="auto", metavar="PATH", help="write JSON")
    return p.parse_args(argv)


def demo_arrays(cfg: dict, tmp: Path) -> dict:
    """{'train'|'val'|'test': shard arrays}: demo images -> manifest -> split -> shards, with the
    CSV round trips between the rules."""
    import pandas as pd

    from busflow.augment.shards import ShardSpec, build_shard, load_shards, shard_meta, write_shard
    from busflow.data.demo import generate_demo_dataset
    from busflow.data.manifest import build_manifest
    from busflow.split.assign import assign_splits

    demo = cfg["demo"]
    generate_demo_dataset(tmp / "raw", demo["n_per_class"], demo["size"], demo["seed"])
    build_manifest(tmp / "raw", cfg["data"])["manifest"].to_csv(tmp / "manifest.csv", index=False)
    manifest = pd.read_csv(tmp / "manifest.csv", keep_default_na=False)
    assign_splits(manifest, cfg["split"]).to_csv(tmp / "split.csv", index=False)
    split_table = pd.read_csv(tmp / "split.csv", keep_default_na=False)
    arrays = {}
    for split in ("train", "val", "test"):
        n_shards = cfg["augment"]["shards"] if split == "train" else 1  # val, test: unaugmented
        paths = [tmp / f"{split}_{shard}.npz" for shard in range(n_shards)]
        for shard, path in enumerate(paths):
            spec = ShardSpec(split, shard, n_shards)
            write_shard(path, build_shard(split_table, manifest, spec, cfg), shard_meta(spec, cfg))
        arrays[split] = load_shards(paths)
    return arrays


def train_and_test(name, build, xy: dict, test: dict, to_pixels, settings, cfg, tmp) -> dict:
    """train_resumable with the config's seed, epochs and batch size; then ``to_pixels`` of the
    model (the classifier that is saved) saved, reloaded and run on the test split, as the rules
    do. Returns the run's metrics and test probabilities."""
    import keras

    from busflow.evaluate.metrics import evaluate_predictions
    from busflow.models.training import TrainingPlan, save_model_atomic, train_resumable

    plan = TrainingPlan(
        settings["epochs"], settings["batch_size"], settings["seed"], tmp / f"{name}.ckpt", name
    )
    started, last = time.perf_counter(), f"epoch {settings['epochs']}/"
    model, _ = train_resumable(
        build,
        *xy,
        plan,
        add_channel=xy[0][0].ndim == 3,
        log=lambda line: line.startswith(last) and print(f"  {name}: {line}"),
    )
    seconds = round(time.perf_counter() - started, 2)
    save_model_atomic(to_pixels(model), tmp / f"{name}.keras")
    reloaded = keras.models.load_model(tmp / f"{name}.keras")
    batch = cfg["evaluation"].get("batch_size", 64)
    probabilities = reloaded.predict(test["images"][..., None], batch_size=batch, verbose=0)
    return {
        "train_seconds": seconds,
        "jit_compile": bool(model.jit_compile),
        "probabilities": probabilities.ravel(),
        **evaluate_predictions(test["labels"], probabilities.ravel(), cfg["evaluation"]),
    }


def run(model: str, variant: str, data: dict, cfg: dict, settings: dict, tmp: Path) -> dict:
    """One variant: baseline or transfer in float32 or mixed_bfloat16 (transfer on cached
    features), or transfer end_to_end (float32, on pixels)."""
    from busflow.models import builders as models
    from busflow.runtime.acceleration import apply_acceleration

    precision = "float32" if variant == "end_to_end" else variant
    jit = apply_acceleration({"precision": precision, "jit_compile": "auto"})["jit_compile"]
    size, optimizer = cfg["data"]["image_size"], (settings["optimizer"], settings["learning_rate"])
    cached = model == "transfer" and variant != "end_to_end"
    inputs = {split: data[split]["images"] for split in ("train", "val")}
    started = time.perf_counter()
    if cached:
        inputs = bottleneck_features(inputs, size, cfg["training"]["feature_batch_size"])
    extract_seconds = round(time.perf_counter() - started, 2) if cached else None
    shape = models.build_vgg16_base(size).output.shape[1:]  # before the seed, outside build()

    def build():
        if model == "baseline":
            net = models.build_baseline(size, settings["dropout"])
        else:  # the head first after the seed: every transfer run starts from the same head
            net = models.build_head(shape, settings["dropout"])
            if not cached:
                net = models.assemble_classifier(models.build_vgg16_base(size), net, size, model)
        return models.compile_binary(net, models.make_optimizer(*optimizer), jit)

    def to_pixels(trained):
        if not cached:
            return trained
        trained.name = models.HEAD_NAME
        return models.assemble_classifier(models.build_vgg16_base(size), trained, size, model)

    xy = [(inputs[split], data[split]["labels"]) for split in ("train", "val")]
    name = f"{model}-{variant}"
    result = train_and_test(name, build, xy, data["test"], to_pixels, settings, cfg, tmp)
    return {"model": model, "variant": variant, "extract_seconds": extract_seconds, **result}


def bottleneck_features(images: dict, size: int, batch_size: int) -> dict:
    """extract_vgg16_features_job for train and val: every sample's bottleneck, float32."""
    from busflow.models import builders as models

    extractor = models.build_feature_extractor(models.build_vgg16_base(size), size, ["bottleneck"])
    return {
        split: extractor.predict(pixels[..., None], batch_size=batch_size, verbose=0)[
            "bottleneck"
        ].astype("float32")
        for split, pixels in images.items()
    }


def compare(fast: dict, reference: dict, what: str) -> dict:
    metrics = {}
    for name in METRICS:
        f, r = fast["metrics"][name], reference["metrics"][name]
        metrics[name] = {
            "fast": f["value"],
            "reference": r["value"],
            "fast_in_reference_ci": r["ci_low"] <= f["value"] <= r["ci_high"],
            "reference_in_fast_ci": f["ci_low"] <= r["value"] <= f["ci_high"],
        }
    p, q = fast["probabilities"], reference["probabilities"]
    return {
        "fast": f"{fast['model']} {fast['variant']}",
        "reference": f"{reference['model']} {reference['variant']}",
        "what": what,
        "metrics": metrics,
        "same_label_fraction": float(np.mean((p >= 0.5) == (q >= 0.5))),
        "max_abs_probability_difference": float(np.max(np.abs(p - q))),
    }


def print_report(runs: list[dict], comparisons: list[dict]) -> None:
    print(
        f"\n{'run':<26}{'accuracy (95% CI)':<24}{'AUC (95% CI)':<24}{'extract s':>10}{'train':>7}"
    )
    for r in runs:
        cells = "".join(f"{format_metric(r['metrics'][name]):<24}" for name in METRICS)
        extract = "-" if r["extract_seconds"] is None else f"{r['extract_seconds']:.1f}"
        print(
            f"{r['model'] + ' ' + r['variant']:<26}{cells}{extract:>10}{r['train_seconds']:>7.1f}"
        )
    print(
        f"\n{'fast':<26}{'reference':<22}{'what':<27}{'acc / AUC in CIs':<18}{'same':>6}{'|dp|':>8}"
    )
    for c in comparisons:
        inside = " / ".join(
            "yes" if m["fast_in_reference_ci"] and m["reference_in_fast_ci"] else "NO"
            for m in c["metrics"].values()
        )
        print(
            f"{c['fast']:<26}{c['reference']:<22}{c['what']:<27}{inside:<18}"
            f"{c['same_label_fraction']:>6.3f}{c['max_abs_probability_difference']:>8.4f}"
        )


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = yaml.safe_load(Path(args.config).read_text())
    select_backend(cfg["training"]["backend"])
    import keras

    from busflow.runtime.devices import job_device, list_devices

    settings = {
        name: {"dropout": 0.5, **cfg["training"][name]} for name in ("baseline", "transfer")
    }
    settings["baseline"]["epochs"] = args.baseline_epochs or settings["baseline"]["epochs"]
    settings["transfer"]["epochs"] = args.transfer_epochs or settings["transfer"]["epochs"]
    variants = [("baseline", p) for p in PRECISIONS] + [("transfer", p) for p in PRECISIONS]
    variants += [] if args.no_slow else [("transfer", "end_to_end")]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="busflow-fastpath-") as folder:
        data = demo_arrays(cfg, Path(folder))
        print(", ".join(f"{split} {len(data[split]['labels'])}" for split in data) + " samples")
        runs = {(m, v): run(m, v, data, cfg, settings[m], Path(folder)) for m, v in variants}
    comparisons = [
        compare(runs[f], runs[r], what) for f, r, what in PAIRS if f in runs and r in runs
    ]
    print_report(list(runs.values()), comparisons)
    if args.json:
        backend = keras.backend.backend()
        device = job_device(backend, list_devices(backend))
        where = "gpu" if device["accelerator"] else "cpu"
        auto = REPO / f"bench/results/fast_path_equivalence_{where}.json"
        path = auto if args.json == "auto" else Path(args.json)
        report = {
            "device": device,
            "config": args.config,
            "settings": settings,
            "runs": [{k: v for k, v in r.items() if k != "probabilities"} for r in runs.values()],
            "comparisons": comparisons,
            "wall_seconds": round(time.perf_counter() - started, 1),
        }
        path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
