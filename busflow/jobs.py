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


def split_job(manifest_csv, split_cfg: dict, folds: int, out: dict) -> None:
    """out: split, conflicts (paths). Honours and extends the split record at split_cfg['record']."""
    from busflow.split_record import read_record, write_record

    record_path = split_cfg.get("record")
    record = read_record(record_path) if record_path else None
    plan = split_lib.plan_split(pd.read_csv(manifest_csv, keep_default_na=False), split_cfg, folds, record)
    if record_path and plan.record is not record:
        write_record(plan.record, record_path)  # first: a job killed before split.csv re-runs to the same split
    write_csv(plan.table, out["split"])
    write_csv(plan.conflicts, out["conflicts"])
    print(plan.table.groupby(["fold", "split", "label"]).size().to_string())
    if len(plan.conflicts):
        print(f"{len(plan.conflicts)} images in split conflicts, see {out['conflicts']}:\n{plan.conflicts.to_string()}")


def external_manifest_job(source, data_cfg: dict, training_manifest_csv, out: dict) -> None:
    """out: manifest, rejected (paths) of one external validation set."""
    from busflow.external import build_external_manifest

    training = pd.read_csv(training_manifest_csv, keep_default_na=False)
    tables = build_external_manifest(source, data_cfg, training)
    for name, table in tables.items():
        write_csv(table, out[name])
    manifest = tables["manifest"]
    print(f"external set {source}: {len(manifest)} images, {int(manifest['in_training'].sum())} also in the "
          f"training data (left out of its metrics), {len(tables['rejected'])} rejected")


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


def select_roles(arrays: dict, roles, selection: dict | None) -> list[dict]:
    """Each role's samples. Without a selection the arrays are one split's own shards, taken whole;
    with one (k-fold: split_csv, fold, folds, protocol, seed, keep_original) they are the pool."""
    if not selection:
        return [arrays for _ in roles]
    from busflow.folds import select_samples

    split_table = pd.read_csv(selection["split_csv"], keep_default_na=False)
    return [select_samples(arrays, split_table, selection["fold"], role, selection) for role in roles]


def load_train_val(train_paths, val_paths, selection: dict | None = None) -> tuple[dict, dict]:
    """Train and val samples; k-fold reads the pool shards once and splits them."""
    if selection:
        return tuple(select_roles(load_shards(train_paths), ["train", "val"], selection))
    return load_shards(train_paths), load_shards(val_paths)


def load_role(paths, role: str, selection: dict | None = None) -> tuple[dict, dict]:
    data, meta = load_split(paths)
    return select_roles(data, [role], selection)[0], meta


def metrics_record(model: str, meta: dict, seed: int, weights: str, selection: dict | None = None) -> dict:
    record = {"model": model, "protocol": meta["protocol"], "leaky": meta["leaky"], "seed": seed, "weights": weights}
    if selection:
        record.update(fold=selection["fold"], evaluation=f"fold {selection['fold']} of {selection['folds']}")
    else:
        record["evaluation"] = "test split"
    return record


def save_json(data: dict, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def probabilities_table(data: dict, probabilities: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "image_id": data["image_ids"], "copy_index": data["copy_index"],
        "label": data["labels"].astype(int), "probability": probabilities,
    })


def crossval_job(metrics_files, prediction_files, eval_cfg: dict, out: dict) -> None:
    from busflow.crossval import summarise_folds

    records = [json.loads(Path(path).read_text()) for path in metrics_files]
    predictions = [pd.read_csv(path).assign(fold=r["fold"]) for path, r in zip(prediction_files, records)]
    summary = summarise_folds(records, predictions, eval_cfg)
    save_json(summary, out["metrics"])
    write_csv(pd.concat(predictions, ignore_index=True), out["predictions"])
    m = summary["metrics"]
    print(f"{summary['model']} {summary['evaluation']}: accuracy {format_mean(m['accuracy'])}, AUC {format_mean(m['auc'])}")


def format_mean(metric: dict) -> str:
    return f"{metric['value']:.3f} ({metric['ci_low']:.3f}-{metric['ci_high']:.3f})"


def comparison_job(metrics_files, references_csv, out: dict) -> None:
    from busflow.comparison import comparison_table, to_html, to_markdown

    runs = [json.loads(Path(path).read_text()) for path in metrics_files]
    table = comparison_table(runs, pd.read_csv(references_csv))
    write_csv(table, out["csv"])
    Path(out["md"]).write_text(to_markdown(table))
    Path(out["html"]).write_text(to_html(table))
    print(to_markdown(table))


def figures_job(models, folds: int, history_files, prediction_files, metrics_files, classes, out: dict) -> None:
    """history_files: each model's folds in turn (one file per model without k-fold)."""
    from busflow import figures

    for i, (model, path) in enumerate(zip(models, out["curves"])):
        histories = [pd.read_csv(h) for h in history_files[i * folds:(i + 1) * folds]]
        figures.plot_training_curves(histories, model, path)
    predictions = {m: pd.read_csv(p) for m, p in zip(models, prediction_files)}
    metrics = {m: json.loads(Path(p).read_text()) for m, p in zip(models, metrics_files)}
    pooled = {m: metrics[m].get("pooled", metrics[m])["metrics"]["auc"]["value"] for m in models}
    title = "ROC on the test split" if folds == 1 else f"ROC of the out-of-fold predictions ({folds} folds)"
    figures.plot_roc_curves(predictions, pooled, out["roc"], title)
    figures.plot_confusion_matrices({m: metrics[m]["confusion_matrix"] for m in models}, list(classes), out["confusion"])
