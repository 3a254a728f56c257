"""Test-set metrics with 95% bootstrap confidence intervals, computed by scikit-learn."""

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from busflow.config.sections import EvaluationSettings

METRIC_NAMES = ["accuracy", "auc", "sensitivity", "specificity", "precision", "f1"]


def point_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Metrics of one sample; the positive class is 1 (malignant).
    AUC is NaN with one class only."""
    predicted = (probabilities >= threshold).astype(int)
    both_classes = len(np.unique(labels)) == 2
    return {
        "accuracy": accuracy_score(labels, predicted),
        "auc": roc_auc_score(labels, probabilities) if both_classes else float("nan"),
        "sensitivity": recall_score(labels, predicted, pos_label=1, zero_division=0),
        "specificity": recall_score(labels, predicted, pos_label=0, zero_division=0),
        "precision": precision_score(labels, predicted, zero_division=0),
        "f1": f1_score(labels, predicted, zero_division=0),
    }


def bootstrap_intervals(
    labels, probabilities, n_resamples: int, seed: int, level: float = 0.95, threshold: float = 0.5
) -> dict[str, tuple[float, float]]:
    """Percentile intervals over resamples of the test images (with replacement)."""
    rng = np.random.default_rng(seed)
    draws = {name: [] for name in METRIC_NAMES}
    per_image = np.ndim(threshold) > 0
    for _ in range(n_resamples):
        rows = rng.integers(0, len(labels), len(labels))
        resampled_threshold = threshold[rows] if per_image else threshold
        for name, value in point_metrics(
            labels[rows], probabilities[rows], resampled_threshold
        ).items():
            draws[name].append(value)
    tail = (1 - level) / 2 * 100
    return {
        name: tuple(float(v) for v in np.nanpercentile(values, [tail, 100 - tail]))
        for name, values in draws.items()
    }


def evaluate_predictions(labels, probabilities, eval_cfg, threshold=0.5) -> dict:
    """The metrics.json body: each metric with its CI, the confusion matrix [[TN, FP], [FN, TP]], n.

    ``threshold`` is one number, or one per image (pooled k-fold predictions, each image thresholded
    at the operating point of the fold that tested it)."""
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=float)
    if np.ndim(threshold) > 0:
        threshold = np.asarray(threshold, dtype=float)
    eval_cfg = EvaluationSettings.of(eval_cfg)
    points = point_metrics(labels, probabilities, threshold)
    intervals = bootstrap_intervals(
        labels, probabilities, eval_cfg.bootstrap, eval_cfg.seed, eval_cfg.ci_level, threshold
    )
    return {
        "metrics": {
            name: {
                "value": float(points[name]),
                "ci_low": intervals[name][0],
                "ci_high": intervals[name][1],
            }
            for name in METRIC_NAMES
        },
        "ci_level": eval_cfg.ci_level,
        "bootstrap_resamples": eval_cfg.bootstrap,
        "threshold": float(threshold)
        if np.ndim(threshold) == 0
        else "each image at its fold's operating point",
        "confusion_matrix": confusion_matrix(
            labels, (probabilities >= threshold).astype(int), labels=[0, 1]
        ).tolist(),
        "n": int(len(labels)),
        "n_positive": int(labels.sum()),
    }


def metrics_record(
    model: str, meta: dict, seed: int, weights: str, selection: dict | None = None
) -> dict:
    record = {
        "model": model,
        "protocol": meta["protocol"],
        "leaky": meta["leaky"],
        "seed": seed,
        "weights": weights,
    }
    if selection and "held_out_site" in selection:
        record.update(
            fold=selection["fold"],
            held_out_site=selection["held_out_site"],
            evaluation=f"held-out site {selection['held_out_site']}",
        )
    elif selection:
        record.update(
            fold=selection["fold"], evaluation=f"fold {selection['fold']} of {selection['folds']}"
        )
    else:
        record["evaluation"] = "test split"
    return record


def probabilities_table(data: dict, probabilities: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": data["image_ids"],
            "copy_index": data["copy_index"],
            "label": data["labels"].astype(int),
            "probability": probabilities,
        }
    )
