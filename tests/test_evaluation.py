"""Evaluation metrics agree with scikit-learn's definitions and carry bootstrap CIs."""

import numpy as np
import pytest

from busflow.evaluate.metrics import evaluate_predictions

CFG = {"bootstrap": 200, "seed": 1, "ci_level": 0.95}


def test_metrics_on_a_hand_checked_example():
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    probs = np.array([0.1, 0.6, 0.2, 0.9, 0.4, 0.8, 0.7, 0.3])
    result = evaluate_predictions(labels, probs, CFG)
    m = {k: v["value"] for k, v in result["metrics"].items()}
    # predicted: 0 1 0 1 0 1 1 0 -> TN=3 FP=1 FN=1 TP=3
    assert result["confusion_matrix"] == [[3, 1], [1, 3]]
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["sensitivity"] == pytest.approx(3 / 4)
    assert m["specificity"] == pytest.approx(3 / 4)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["auc"] == pytest.approx(15 / 16)
    assert result["n"] == 8 and result["n_positive"] == 4


def test_intervals_bracket_the_point_estimate_and_narrow_with_more_data():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    probs = np.clip(labels * 0.3 + rng.normal(0.35, 0.2, 400), 0, 1)
    small = evaluate_predictions(labels[:60], probs[:60], CFG)["metrics"]["auc"]
    large = evaluate_predictions(labels, probs, CFG)["metrics"]["auc"]
    for m in (small, large):
        assert m["ci_low"] <= m["value"] <= m["ci_high"]
    assert (large["ci_high"] - large["ci_low"]) < (small["ci_high"] - small["ci_low"])


def test_same_seed_same_intervals():
    labels = np.array([0, 1] * 20)
    probs = np.linspace(0, 1, 40)
    assert evaluate_predictions(labels, probs, CFG) == evaluate_predictions(labels, probs, CFG)
