"""The external set's record: one model's metrics, or under k-fold the fold means and the
fold-averaged (ensemble) prediction's, whose bootstrap runs once."""

import numpy as np

import busflow.jobs.evaluation as evaluation_jobs
from busflow.config.sections import EvaluationSettings

LABELS = np.array([0, 1] * 20)
EVAL = EvaluationSettings.of({"bootstrap": 50, "seed": 3})


def fold_predictions(n_folds: int) -> list[tuple[np.ndarray, float]]:
    rng = np.random.default_rng(1)
    return [(np.clip(0.3 * LABELS + rng.random(40) * 0.7, 0, 1), 0.5) for _ in range(n_folds)]


def chosen(n_folds: int) -> list[dict]:
    point = {"rule": "fixed", "target_sensitivity": 0.9, "threshold": 0.5}
    return [{"operating_point": point, "recalibration": {"method": "none"}}] * n_folds


def count_bootstraps(monkeypatch) -> list:
    calls = []
    real = evaluation_jobs.evaluate_predictions

    def counted(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation_jobs, "evaluate_predictions", counted)
    return calls


def test_the_ensemble_of_the_fold_models_is_bootstrapped_once(monkeypatch):
    calls = count_bootstraps(monkeypatch)
    applied = fold_predictions(3)
    record = evaluation_jobs.external_metrics(LABELS, applied, chosen(3), EVAL)
    assert len(calls) == 3 + 1  # each fold model, then the ensemble
    ensemble = np.mean([p for p, _ in applied], axis=0)
    np.testing.assert_array_equal(calls[-1], ensemble)
    assert record["confusion_matrix"] == record["ensemble"]["confusion_matrix"]
    assert record["evaluation"] == "external set, 3 fold models"
    assert record["operating_point"]["thresholds"] == [0.5, 0.5, 0.5]


def test_one_model_is_its_own_record(monkeypatch):
    calls = count_bootstraps(monkeypatch)
    record = evaluation_jobs.external_metrics(LABELS, fold_predictions(1), chosen(1), EVAL)
    assert len(calls) == 1
    assert record["evaluation"] == "external set" and record["fold"] == 0
    assert record["operating_point"]["threshold"] == 0.5
