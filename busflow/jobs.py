"""One function per workflow rule: read the rule's files, call the library, write the rule's files.

Scripts in scripts/ only unpack the ``snakemake`` object and call these, so everything a rule does
can be run and tested without Snakemake.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from busflow import manifest as manifest_lib
from busflow import split as split_lib
from busflow.shards import ShardSpec, build_shard, load_shards, read_shard_meta, shard_meta, write_shard


def write_csv(table: pd.DataFrame, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)


def manifest_job(raw_dir, data_cfg: dict, out: dict) -> None:
    """out: manifest, rejected, duplicates, conflicts (paths)."""
    tables = manifest_lib.build_manifest(raw_dir, data_cfg)
    for name, table in tables.items():
        write_csv(table, out[name])
    print(f"manifest: {len(tables['manifest'])} images, {len(tables['rejected'])} rejected, "
          f"{len(tables['duplicates'])} duplicate pairs, {len(tables['conflicts'])} images in label conflicts")


def split_job(manifest_csv, split_cfg: dict, out_csv) -> None:
    table = split_lib.assign_splits(pd.read_csv(manifest_csv, keep_default_na=False), split_cfg)
    write_csv(table, out_csv)
    print(table.groupby(["split", "label"]).size().to_string())


def shard_job(manifest_csv, split_csv, split: str, shard: int, n_shards: int, cfg: dict, out_npz) -> None:
    spec = ShardSpec(split, shard, n_shards)
    manifest = pd.read_csv(manifest_csv, keep_default_na=False)
    split_table = pd.read_csv(split_csv, keep_default_na=False)
    arrays = build_shard(split_table, manifest, spec, cfg)
    write_shard(out_npz, arrays, shard_meta(spec, cfg))
    print(f"shard {split}/{shard}: {len(arrays['labels'])} samples from {len(set(arrays['image_ids']))} images")


def load_split(paths) -> tuple[dict, dict]:
    """Arrays and metadata of one split's shards (metadata of the first shard)."""
    return load_shards(paths), read_shard_meta(paths[0])


def metrics_record(model: str, meta: dict, seed: int, weights: str) -> dict:
    return {"model": model, "protocol": meta["protocol"], "leaky": meta["leaky"], "seed": seed, "weights": weights}


def save_json(data: dict, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def probabilities_table(data: dict, probabilities: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "image_id": data["image_ids"], "copy_index": data["copy_index"],
        "label": data["labels"].astype(int), "probability": probabilities,
    })


def comparison_job(metrics_files, references_csv, out: dict) -> None:
    from busflow.comparison import comparison_table, to_html, to_markdown

    runs = [json.loads(Path(path).read_text()) for path in metrics_files]
    table = comparison_table(runs, pd.read_csv(references_csv))
    write_csv(table, out["csv"])
    Path(out["md"]).write_text(to_markdown(table))
    Path(out["html"]).write_text(to_html(table))
    print(to_markdown(table))


def figures_job(models, history_files, prediction_files, metrics_files, classes, out: dict) -> None:
    from busflow import figures

    for model, history, path in zip(models, history_files, out["curves"]):
        figures.plot_training_curves(pd.read_csv(history), model, path)
    predictions = {m: pd.read_csv(p) for m, p in zip(models, prediction_files)}
    metrics = {m: json.loads(Path(p).read_text()) for m, p in zip(models, metrics_files)}
    figures.plot_roc_curves(predictions, {m: metrics[m]["metrics"]["auc"]["value"] for m in models}, out["roc"])
    figures.plot_confusion_matrices({m: metrics[m]["confusion_matrix"] for m in models}, list(classes), out["confusion"])
