"""Test-set metrics with 95% bootstrap confidence intervals, computed by scikit-learn.

The bootstrap resamples the unit that is independent, not the rows: patients where the data
names them, else duplicate groups (one picture and its near copies), and under the paper's
protocol the source images, whose augmented copies are not independent test samples. Every
record says which (``ci_unit``)."""

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
from busflow.data.patients import PATIENT_KEY
from busflow.protocol import splits_copies

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


def cluster_members(clusters, n: int) -> list[np.ndarray]:
    """Row indices of each cluster, clusters in order of first appearance (one row each when
    ``clusters`` is None: the plain row bootstrap)."""
    if clusters is None:
        return [np.asarray([i]) for i in range(n)]
    codes, _ = pd.factorize(pd.Series(clusters, dtype=str))
    order = np.argsort(codes, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(codes[order])) + 1) if n else []


def bootstrap_intervals(
    labels,
    probabilities,
    n_resamples: int,
    seed: int,
    level: float = 0.95,
    threshold: float = 0.5,
    clusters=None,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals over resamples, with replacement, of the clusters (patients or
    duplicate groups: all rows of a drawn cluster come together), or of the rows when
    ``clusters`` is None."""
    rng = np.random.default_rng(seed)
    draws = {name: [] for name in METRIC_NAMES}
    per_image = np.ndim(threshold) > 0
    members = cluster_members(clusters, len(labels))
    for _ in range(n_resamples):
        drawn = rng.integers(0, len(members), len(members))
        rows = drawn if clusters is None else np.concatenate([members[i] for i in drawn])
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


def ci_unit(groups, protocol: str = "leak_free") -> str:
    """What a CI over ``groups`` (split.csv's group keys of the rows) resamples, in words."""
    keys = pd.Series(groups, dtype=str)
    named = keys.str.startswith(PATIENT_KEY)
    if named.all():
        return "patients"
    if named.any():
        return "patients or duplicate groups"  # where the data names no patient
    if splits_copies(protocol):
        return "source images (with their augmented copies and duplicates)"
    return "duplicate groups" if keys.nunique() < len(keys) else "images"


def evaluate_predictions(
    labels, probabilities, eval_cfg, threshold=0.5, clusters=None, unit: str | None = None
) -> dict:
    """The metrics.json body: each metric with its CI, the confusion matrix [[TN, FP], [FN, TP]], n.

    ``threshold`` is one number, or one per image (pooled k-fold predictions, each image thresholded
    at the operating point of the fold that tested it). ``clusters``: each row's patient or
    duplicate group, which the bootstrap resamples (None: rows); ``unit`` says what they are
    (default: ci_unit's word for them)."""
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=float)
    if np.ndim(threshold) > 0:
        threshold = np.asarray(threshold, dtype=float)
    eval_cfg = EvaluationSettings.of(eval_cfg)
    points = point_metrics(labels, probabilities, threshold)
    intervals = bootstrap_intervals(
        labels,
        probabilities,
        eval_cfg.bootstrap,
        eval_cfg.seed,
        eval_cfg.ci_level,
        threshold,
        clusters,
    )
    unit = unit or (ci_unit(clusters) if clusters is not None else "images")
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
        "ci_unit": unit,
        "n_units": len(cluster_members(clusters, len(labels))),
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
