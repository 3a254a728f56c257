"""Rules plot_figures (training curves, ROC curves, confusion matrices, calibration) and
plot_external_figures (ROC and calibration on each external set)."""

import pandas as pd

from busflow.outputs import read_json
from busflow.report import figures


def plot_figures_job(
    models,
    folds: int,
    history_files,
    prediction_files,
    metrics_files,
    classes,
    out: dict,
    calibration_bins: int = 10,
) -> None:
    """history_files: each model's folds in turn (one file per model without k-fold)."""
    for i, (model, path) in enumerate(zip(models, out["curves"])):
        histories = [pd.read_csv(h) for h in history_files[i * folds : (i + 1) * folds]]
        figures.plot_training_curves(histories, model, path)
    predictions = {m: pd.read_csv(p) for m, p in zip(models, prediction_files)}
    metrics = {m: read_json(p) for m, p in zip(models, metrics_files)}
    pooled = {m: metrics[m].get("pooled", metrics[m])["metrics"]["auc"]["value"] for m in models}
    title = (
        "ROC on the test split"
        if folds == 1
        else f"ROC of the out-of-fold predictions ({folds} folds)"
    )
    figures.plot_roc_curves(predictions, pooled, out["roc"], title)
    figures.plot_calibration(
        predictions,
        calibration_bins,
        out["calibration"],
        title.replace("ROC", "Calibration and precision-recall"),
    )
    figures.plot_confusion_matrices(
        {m: metrics[m]["confusion_matrix"] for m in models}, list(classes), out["confusion"]
    )


def auc_of(record: dict) -> float:
    """The AUC a figure's legend gives: the pooled out-of-fold or the fold models' ensemble
    prediction's under k-fold (the one its predictions.csv holds), else the record's own."""
    chosen = record.get("pooled") or record.get("ensemble") or record
    return chosen["metrics"]["auc"]["value"]


def plot_external_figures_job(
    name: str,
    models,
    folds: int,
    external_predictions,
    external_metrics,
    internal_predictions,
    internal_metrics,
    out: dict,
    calibration_bins: int = 10,
) -> None:
    """ROC (beside the model's ROC on the run's own test images) and calibration of every model
    on external set ``name``; the files are aligned with ``models``."""
    external = {m: pd.read_csv(p) for m, p in zip(models, external_predictions)}
    internal = {m: pd.read_csv(p) for m, p in zip(models, internal_predictions)}
    aucs = {
        m: (auc_of(read_json(i)), auc_of(read_json(e)))
        for m, i, e in zip(models, internal_metrics, external_metrics)
    }
    of = "" if folds == 1 else f" (mean of the {folds} fold models)"
    figures.plot_external_roc(external, internal, aucs, out["roc"], f"ROC on {name}{of}")
    figures.plot_calibration(
        external,
        calibration_bins,
        out["calibration"],
        f"Calibration and precision-recall on {name}{of}",
    )
