"""One model's k-fold result: the mean of each metric over the folds with a t-interval, and the
pooled out-of-fold metrics (every image predicted once, by the fold that did not train on it)."""

import numpy as np
import pandas as pd
from scipy import stats

from busflow.config.sections import EvaluationSettings
from busflow.evaluate.calibration import calibration_summary
from busflow.evaluate.metrics import METRIC_NAMES, evaluate_predictions


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student's t-interval of the mean over folds (k - 1 degrees of freedom)."""
    values = np.asarray(values, dtype=float)
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = (
        stats.t.ppf(0.5 + level / 2, len(values) - 1)
        * np.std(values, ddof=1)
        / np.sqrt(len(values))
    )
    return mean, float(mean - half), float(mean + half)


def fold_ensemble(probabilities, thresholds) -> tuple[np.ndarray, float]:
    """The fold models' ensemble: the mean of their probabilities (one row per fold model) and of
    their thresholds. Evaluation on external sets and the predict command both average so."""
    return np.mean(probabilities, axis=0), float(np.mean(thresholds))


def fold_means(records: list[dict], level: float) -> dict:
    """Each metric's mean over the folds' records, with its t-interval and standard deviation."""
    metrics = {}
    for name in METRIC_NAMES:
        values = [r["metrics"][name]["value"] for r in records]
        mean, low, high = mean_interval(values, level)
        # Every metric here lies in [0, 1]; a t-interval over few folds can reach past it.
        low, high = max(low, 0.0), min(high, 1.0)
        metrics[name] = {
            "value": mean,
            "ci_low": low,
            "ci_high": high,
            "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        }
    return metrics


def fold_rows(records: list[dict]) -> list[dict]:
    return [
        {
            "fold": r.get("fold", i),
            "n": r["n"],
            **{n: r["metrics"][n]["value"] for n in METRIC_NAMES},
        }
        for i, r in enumerate(records)
    ]


def fold_operating_points(records: list[dict]) -> dict:
    """The rule and each fold's threshold (every fold chose its own on its validation images)."""
    first = records[0].get("operating_point", {"rule": "fixed", "target_sensitivity": None})
    return {
        "rule": first["rule"],
        "target_sensitivity": first.get("target_sensitivity"),
        "thresholds": [
            r.get("operating_point", {}).get("threshold", r.get("threshold", 0.5)) for r in records
        ],
    }


def fold_mean_calibration(records: list[dict], pooled: pd.DataFrame, bins: int) -> dict:
    """ECE and Brier as the mean over the folds (as every other metric of the table), and the
    pooled out-of-fold predictions' calibration, which the reliability diagram shows."""
    folds = [r["calibration"] for r in records if "calibration" in r]
    pooled_summary = calibration_summary(pooled["label"], pooled["probability"], bins)
    if not folds:  # folds evaluated before calibration was recorded
        return {**pooled_summary, "of": "pooled out-of-fold predictions"}
    return {
        "ece": float(np.mean([c["ece"] for c in folds])),
        "brier": float(np.mean([c["brier"] for c in folds])),
        "of": "mean over the folds",
        "pooled": pooled_summary,
    }


def summarise_folds(records: list[dict], predictions: list[pd.DataFrame], eval_cfg) -> dict:
    """The cross-validated metrics.json: ``metrics`` holds fold means with their CIs (the table's
    figures), ``folds`` each fold's values, ``pooled`` the out-of-fold predictions' metrics."""
    eval_cfg = EvaluationSettings.of(eval_cfg)
    level = eval_cfg.ci_level
    pooled = pd.concat(predictions, ignore_index=True)
    # each image at the operating point of the fold that tested it (0.5 for runs made before them)
    thresholds = pooled["threshold"].to_numpy() if "threshold" in pooled else 0.5
    first = records[0]
    return {
        **{
            key: first[key]
            for key in (
                "model",
                "protocol",
                "leaky",
                "seed",
                "weights",
                "test_time_augmentation",
                "recalibration",
                "device",
                "ci_unit",
            )
            if key in first
        },
        "evaluation": (
            f"leave-one-site-out, mean of {len(records)} sites"
            if "held_out_site" in first
            else f"{len(records)}-fold CV"
        ),
        "metrics": fold_means(records, level),
        "ci_level": level,
        "ci_method": f"Student t-interval of the mean over {len(records)} folds",
        "folds": fold_rows(records),
        "pooled": evaluate_predictions(
            pooled["label"],
            pooled["probability"],
            eval_cfg,
            thresholds,
            pooled["group"] if "group" in pooled else None,
            first.get("ci_unit"),
        ),
        "operating_point": fold_operating_points(records),
        "calibration": fold_mean_calibration(records, pooled, eval_cfg.calibration_bins),
        "confusion_matrix": np.sum([r["confusion_matrix"] for r in records], axis=0).tolist(),
        "n": int(sum(r["n"] for r in records)),
        "n_positive": int(sum(r["n_positive"] for r in records)),
    }
