"""k-fold summaries: fold means with t-intervals, pooled out-of-fold metrics."""

import math

import numpy as np
import pandas as pd
from scipy import stats

from busflow.evaluate.crossval import fold_ensemble, mean_interval, summarise_folds
from busflow.evaluate.metrics import evaluate_predictions

EVAL_CFG = {"bootstrap": 50, "seed": 1, "ci_level": 0.95, "calibration_bins": 10}


def test_mean_interval_is_the_students_t_interval():
    values = [0.80, 0.90, 0.85, 0.95, 0.75]
    mean, low, high = mean_interval(values)
    half = stats.t.ppf(0.975, 4) * np.std(values, ddof=1) / math.sqrt(5)
    assert (
        math.isclose(mean, 0.85)
        and math.isclose(low, 0.85 - half)
        and math.isclose(high, 0.85 + half)
    )
    assert math.isnan(mean_interval([0.8])[1])


def fold_predictions(fold, n, quality, seed):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    probabilities = np.clip(labels * quality + rng.uniform(0, 1 - quality, n), 0, 1)
    return pd.DataFrame(
        {
            "image_id": [f"f{fold}_{i}" for i in range(n)],
            "label": labels,
            "probability": probabilities,
        }
    )


def test_fold_ensemble_averages_the_fold_models_probabilities_and_thresholds():
    probability, threshold = fold_ensemble(np.array([[0.2, 0.9], [0.4, 0.5]]), [0.4, 0.6])
    assert np.allclose(probability, [0.3, 0.7]) and math.isclose(threshold, 0.5)


def test_summary_reports_the_fold_mean_with_ci_and_pools_out_of_fold_predictions():
    predictions = [fold_predictions(f, 40 + 2 * f, q, f) for f, q in enumerate([0.3, 0.5, 0.4])]
    records = [
        {
            "model": "baseline",
            "protocol": "leak_free",
            "leaky": False,
            "seed": 1,
            "weights": "none",
            "fold": f,
            "test_time_augmentation": 3,
            **evaluate_predictions(p["label"], p["probability"], EVAL_CFG),
        }
        for f, p in enumerate(predictions)
    ]
    summary = summarise_folds(records, predictions, EVAL_CFG)
    aucs = [r["metrics"]["auc"]["value"] for r in records]
    assert math.isclose(summary["metrics"]["auc"]["value"], np.mean(aucs))
    assert (
        summary["metrics"]["auc"]["ci_low"]
        <= min(aucs)
        <= max(aucs)
        <= summary["metrics"]["auc"]["ci_high"]
        <= 1.0
    )
    assert summary["n"] == 40 + 42 + 44 and summary["evaluation"] == "3-fold CV"
    assert summary["test_time_augmentation"] == 3  # the table's label comes from the summary
    assert [f["fold"] for f in summary["folds"]] == [0, 1, 2]
    assert np.sum(summary["confusion_matrix"]) == summary["n"] == summary["pooled"]["n"]


def test_intervals_stay_within_zero_and_one():
    predictions = [fold_predictions(f, 20, q, f) for f, q in enumerate([0.0, 0.9])]
    records = [
        {"model": "m", "fold": f, **evaluate_predictions(p["label"], p["probability"], EVAL_CFG)}
        for f, p in enumerate(predictions)
    ]
    metrics = summarise_folds(records, predictions, EVAL_CFG)["metrics"]
    assert all(0.0 <= m["ci_low"] <= m["value"] <= m["ci_high"] <= 1.0 for m in metrics.values())
