"""Rule plot_figures: training curves, ROC curves and confusion matrices."""

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
