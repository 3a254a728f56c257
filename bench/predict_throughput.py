"""Predict throughput: images per second of busflow.predict on this machine's CPUs.

    python bench/predict_throughput.py [--images 200] [--size 224] [--source-side 500]

Exports a baseline CNN and a VGG16 classifier (random weights: the speed does not depend on their
values) at --size px, writes --images demo scans of --source-side px (BUSI's are about 500 x 500),
and times busflow.predict.predictions.predict_table on them: each model alone, then both. The time
includes loading the models and decoding, checking and duplicate-hashing every image, as a user's
run does.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from busflow.data.demo import generate_demo_dataset  # noqa: E402
from busflow.data.scan import describe_image  # noqa: E402
from busflow.runtime.start import select_backend  # noqa: E402

PREPROCESS = {"crop_to_field": False, "suppress_overlays": False, "normalise_intensity": "none"}


def export(folder: Path, name: str, model, size: int, tables: Path) -> Path:
    from busflow.jobs.export_models import export_models_job

    model.save(folder / f"{name}.keras")
    point = {"rule": "fixed", "target_sensitivity": None, "threshold": 0.5, "chosen_on": "bench"}
    record = {"operating_point": point, "recalibration": {"method": "none", "scale": 1, "shift": 0}}
    (folder / "op.json").write_text(json.dumps(record))
    run = {"model": name, "fold": None, "folds": 1, "protocol": "leak_free", "image_size": size,
           "classes": ["benign", "malignant"], "preprocess": PREPROCESS, "tta_views": 1,
           "max_image_pixels": 50_000_000, "near_duplicate_distance": 6, "saved_model": False,
           "workflow_dir": str(Path(__file__).resolve().parents[1])}  # fmt: skip
    out = folder / "export" / name
    export_models_job(folder / f"{name}.keras", folder / "op.json", tables / "manifest.csv",
               tables / "split.csv", run, out)  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--source-side", type=int, default=500)
    args = parser.parse_args()
    select_backend(None)  # before Keras is imported
    from busflow.models.builders import (
        assemble_classifier,
        build_baseline,
        build_head,
        build_vgg16_base,
    )
    from busflow.predict.predictions import predict_table

    folder = Path(tempfile.mkdtemp(prefix="predict_bench_"))
    raw = folder / "images"
    generate_demo_dataset(raw, n_per_class=args.images // 2, size=args.source_side, seed=1)
    first = sorted((raw / "benign").glob("*.png"))[:4]
    manifest = pd.DataFrame([{**describe_image(p, "benign", raw), "site": ""} for p in first])
    manifest.to_csv(folder / "manifest.csv", index=False)
    split = manifest[["image_id", "label"]].assign(fold=0, split="train")
    split.to_csv(folder / "split.csv", index=False)
    base = build_vgg16_base(args.size)
    vgg = assemble_classifier(base, build_head(base.output.shape[1:]), args.size, "transfer")
    exports = {
        "baseline": export(folder, "baseline", build_baseline(args.size), args.size, folder),
        "transfer": export(folder, "transfer", vgg, args.size, folder),
    }
    print(f"{args.images} images of {args.source_side} px, model input {args.size} px, "
          f"{os.cpu_count()} CPUs, KERAS_BACKEND={os.environ['KERAS_BACKEND']}")  # fmt: skip
    for label, paths in [*[(n, [p]) for n, p in exports.items()], ("both", [folder / "export"])]:
        predict_table(paths, [raw / "benign" / "benign_0000.png"])  # warm-up: load, trace
        start = time.perf_counter()
        table = predict_table(paths, [raw])
        seconds = time.perf_counter() - start
        print(f"{label:>9}: {len(table) / seconds:6.1f} images/s ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
