"""Rule summarise_folds: one model's fold metrics as a mean with a
t-interval, and its pooled predictions."""

import pandas as pd

from busflow.evaluate.crossval import summarise_folds
from busflow.outputs import read_json, save_json, write_csv
from busflow.report.estimates import format_metric


def summarise_folds_job(metrics_files, prediction_files, eval_cfg: dict, out: dict) -> None:
    records = [read_json(path) for path in metrics_files]
    predictions = [
        pd.read_csv(path).assign(fold=r["fold"]) for path, r in zip(prediction_files, records)
    ]
    summary = summarise_folds(records, predictions, eval_cfg)
    save_json(summary, out["metrics"])
    write_csv(pd.concat(predictions, ignore_index=True), out["predictions"])
    m = summary["metrics"]
    print(
        f"{summary['model']} {summary['evaluation']}: accuracy "
        f"{format_metric(m['accuracy'])}, AUC {format_metric(m['auc'])}"
    )
