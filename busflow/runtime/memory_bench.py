"""Memory benchmark: the peak RSS of each job of a leak-free run (shards, feature extraction, each
model's training and evaluation) for several augmented-copy counts and one or several sites,
from each run's Snakemake benchmark files (max_rss, what SLURM accounts), and the training
throughput of cached features read from disk against the same features in memory.

    python -m busflow.runtime.memory_bench --out runs/memory --images 120 \\
        --runs busi:4 busi:12 busi:24 busi+breast+busbra:4 --weights ../shared/weights/X.h5

Each site contributes ``--images`` images (half benign, half malignant, the first by name), so
three sites hold three times the images of one. Epochs are 1: memory does not depend on them.
The result, one table, is printed and written to OUT/memory.md; docs/results/memory/ has one.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]
SITES = {
    "busi": "busi",
    "breast": "breast/clinical.csv",
    "busbra": "busbra/busbra.csv",
}
MODELS = ["baseline", "transfer", "finetune"]


def subset_site(data: Path, site: str, images: int, folder: Path) -> str:
    """A site cut to ``images`` images (half per class): a folder of links (BUSI) or a CSV with
    absolute paths."""
    per_class = images // 2
    if site == "busi":
        for label in ("benign", "malignant"):
            (folder / label).mkdir(parents=True, exist_ok=True)
            names = sorted(
                p for p in (data / "busi" / label).glob("*.png") if "_mask" not in p.name
            )
            for path in names[:per_class]:
                for member in [path, *path.parent.glob(f"{path.stem}_mask*.png")]:
                    link = folder / label / member.name
                    link.unlink(missing_ok=True)
                    link.symlink_to(member)
        return str(folder)
    table = pd.read_csv(data / SITES[site], keep_default_na=False)
    base = (data / SITES[site]).parent
    rows = pd.concat(
        [table[table["label"] == label].head(per_class) for label in ("benign", "malignant")]
    )
    rows = rows.assign(path=[str(base / p) for p in rows["path"]])
    if "mask" in rows:
        rows = rows.assign(mask=[str(base / p) if p else "" for p in rows["mask"]])
    csv = folder.with_suffix(".csv")
    rows.to_csv(csv, index=False)
    return str(csv)


def run_config(sites: list[str], copies: int, raw: list, weights: str, size: int) -> dict:
    return {
        "models": MODELS,
        "data": {"raw": raw if len(raw) > 1 else raw[0], "image_size": size},
        "demo": {"generate": False},
        "augment": {"factor": copies, "shards": 4, "transforms": {"rotations": [0]}},
        "vgg16_weights": weights,
        "training": {
            "require_gpu": False,
            **{model: {"epochs": 1} for model in MODELS},
        },
        "evaluation": {"bootstrap": 50},
    }


def run_one(out: Path, data: Path, sites: list[str], copies: int, args) -> Path:
    """One run, to the trained models and the fine-tuned one's evaluation; returns its folder."""
    run = out / f"{'+'.join(sites)}_x{copies}"
    run.mkdir(parents=True, exist_ok=True)
    raw = [
        {"name": site, "path": subset_site(data, site, args.images, out / "data" / site)}
        for site in sites
    ]
    raw = raw if len(raw) > 1 else [raw[0]["path"]]
    overlay = run / "memory.yaml"
    overlay.write_text(yaml.safe_dump(run_config(sites, copies, raw, args.weights, args.size)))
    targets = [f"results/models/{model}.keras" for model in MODELS]
    targets.append("results/eval/finetune/metrics.json")
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(run)]
    command += [*targets, "--cores", str(args.cores), "--configfile", str(overlay)]
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=run, stdout=subprocess.DEVNULL)
    print(f"{run.name}: {time.perf_counter() - started:.0f} s", flush=True)
    return run


def peaks(run: Path) -> dict:
    """max_rss (MB) per job kind: the largest over a kind's jobs (e.g. every shard)."""
    found = {}
    for tsv in sorted((run / "results/benchmarks").rglob("*.tsv")):
        # results/benchmarks/<rule>.tsv, or <rule>/<wildcards>.tsv for a rule with wildcards
        kind = tsv.stem if tsv.parent.name == "benchmarks" else tsv.parent.name
        if kind == "extract_vgg16_features":
            kind = f"features_{tsv.stem}"
        rss = float(pd.read_csv(tsv, sep="\t")["max_rss"].max())
        found[kind] = max(found.get(kind, 0.0), rss)
    return found


def samples(run: Path) -> int:
    with np.load(run / "results/features/train.npz", allow_pickle=False) as features:
        return len(features["labels"])


def throughput(run: Path, epochs: int = 2) -> dict:
    """Transfer-head training samples/s on the run's train features: read from disk batch by
    batch (busflow.store) and from the same features loaded in memory, in one process."""
    code = f"""
import sys, time
sys.path.insert(0, {str(REPO)!r})
from busflow.runtime.start import select_backend
select_backend("tensorflow")
import numpy as np
from busflow.models import builders as models
from busflow.models.training import Batches, epoch_order
from busflow.store import open_npz
features = open_npz({str(run / "results/features/train.npz")!r})
x, y = features["bottleneck"], features["labels"]
memory = np.asarray(x)
for name, data in (("disk", x), ("memory", memory), ("disk", x), ("memory", memory)):
    optimizer = models.make_optimizer("adam", 1e-3)
    head = models.compile_binary(models.build_head(x.shape[1:]), optimizer)
    head.fit(Batches(data, y, np.arange(min(64, len(y))), 20), shuffle=False, verbose=0)
    started = time.perf_counter()
    for epoch in range({epochs}):
        head.fit(Batches(data, y, epoch_order(len(y), 5, epoch), 20), shuffle=False, verbose=0)
    print(name, {epochs} * len(y) / (time.perf_counter() - started))
"""
    lines = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split("\n")
    rates = {}
    for line in filter(None, lines):
        name, rate = line.split()
        rates[name] = max(rates.get(name, 0.0), float(rate))
    return rates


BATCH_PEAK = """
import resource, sys
sys.path.insert(0, {repo!r})
from busflow.runtime.start import select_backend
select_backend("tensorflow")
import numpy as np
from busflow.models import builders as models
job, batch, size = {job!r}, {batch}, {size}
rng = np.random.default_rng(0)
pixels = rng.integers(0, 255, (batch, size, size, 1), dtype=np.uint8)
labels = (np.arange(batch) % 2).astype(np.int8)
base = models.build_vgg16_base(size, None)
if job == "extract":
    extractor = models.build_feature_extractor(base, size, ("block4", "bottleneck"))
    for _ in range(3):
        extractor.predict_on_batch(pixels)
elif job == "baseline":
    optimizer = models.make_optimizer("rmsprop", 1e-3)
    model = models.compile_binary(models.build_baseline(size), optimizer)
    for _ in range(3):
        model.train_on_batch(pixels, labels)
else:
    head = models.build_head(base.get_layer("block5_pool").output.shape[1:])
    trainer = models.build_top_trainer(base, head, (5,))
    trainer = models.compile_binary(trainer, models.make_optimizer("sgd", 1e-3, 0.9, 1.0))
    block4 = rng.normal(size=(batch, *trainer.input_shape[1:])).astype("float32")
    for _ in range(3):
        trainer.train_on_batch(block4, labels)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def batch_peaks(size: int, batches=(8, 64)) -> dict:
    """Peak RSS (MB) of one process that runs a job's model on synthetic batches: the formula's
    per-sample term is the slope between two batch sizes (busflow.runtime.memory)."""
    found = {}
    for job in ("extract", "baseline", "finetune"):
        for batch in batches:
            code = BATCH_PEAK.format(repo=str(REPO), job=job, batch=batch, size=size)
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            found[f"{job} batch {batch}"] = float(done.stdout.split()[-1])
    return found


def table(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows).set_index("run")
    return frame.round(0).astype("Int64").to_markdown()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--images", type=int, default=120, help="images per site")
    parser.add_argument(
        "--runs",
        nargs="+",
        default=["busi:4", "busi:12", "busi:24", "busi+breast+busbra:4"],
        help="SITES:COPIES, sites joined by +",
    )
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--weights", default="none")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--batch-peaks", action="store_true", help="only the per-batch sweep")
    args = parser.parse_args(argv)
    if args.batch_peaks:
        print(pd.Series(batch_peaks(args.size)).round(0).to_markdown())
        return
    rows = []
    for spec in args.runs:
        sites, copies = spec.split(":")
        run = run_one(args.out.resolve(), args.data.resolve(), sites.split("+"), int(copies), args)
        row = {"run": run.name, "train samples": samples(run), **peaks(run)}
        rates = throughput(run)
        row.update({f"samples/s {k}": v for k, v in rates.items()})
        rows.append(row)
        # Written after every run, so a long benchmark cut short keeps what it measured.
        text = (
            f"Peak RSS (MB, Snakemake max_rss) per job, {args.size} px, {args.images} images "
            f"per site, {os.cpu_count()} CPUs\n\n{table(rows)}\n"
        )
        (args.out / "memory.md").write_text(text)
        print(text, flush=True)


if __name__ == "__main__":
    main()
