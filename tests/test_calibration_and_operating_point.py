"""Calibration metrics against hand-computed values; operating points chosen on validation data."""

import numpy as np
import pytest

from busflow.evaluate.calibration import (
    Recalibration,
    calibration_summary,
    expected_calibration_error,
    fit_recalibration,
)
from busflow.evaluate.operating_point import (
    OperatingPointRule,
    choose_threshold,
    operating_point_record,
)

# Four images in two bins of width 0.5: bin [0, 0.5) holds 0.1 (benign) and 0.4 (malignant),
# bin [0.5, 1] holds 0.6 (benign) and 0.9 (malignant).
LABELS = np.array([0, 1, 0, 1])
PROBABILITIES = np.array([0.1, 0.4, 0.6, 0.9])


def test_expected_calibration_error_by_hand():
    # Each bin: half the images, fraction malignant 0.5; mean probabilities 0.25 and 0.75.
    # ECE = 0.5 * |0.5 - 0.25| + 0.5 * |0.5 - 0.75| = 0.25
    assert expected_calibration_error(LABELS, PROBABILITIES, n_bins=2) == pytest.approx(0.25)


def test_brier_score_and_reliability_points_by_hand():
    summary = calibration_summary(LABELS, PROBABILITIES, n_bins=2)
    # Brier = mean((p - y)^2) = (0.01 + 0.36 + 0.36 + 0.01) / 4 = 0.185
    assert summary["brier"] == pytest.approx(0.185)
    assert summary["ece"] == pytest.approx(0.25)
    assert summary["reliability"]["mean_probability"] == pytest.approx([0.25, 0.75])
    assert summary["reliability"]["fraction_malignant"] == pytest.approx([0.5, 0.5])


def test_a_perfectly_calibrated_sample_has_no_calibration_error():
    labels = np.array([0] * 8 + [1] * 2 + [0] * 2 + [1] * 8)
    probabilities = np.array([0.2] * 10 + [0.8] * 10)
    assert expected_calibration_error(labels, probabilities, n_bins=10) == pytest.approx(0.0)


def test_temperature_scaling_softens_overconfident_probabilities_and_lowers_ece():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    true_logit = np.where(labels == 1, 1.0, -1.0) + rng.normal(0, 1.5, labels.size)
    overconfident = 1 / (1 + np.exp(-3 * true_logit))  # logits three times too large
    recalibration = fit_recalibration(labels, overconfident, "temperature")
    assert 0.2 < recalibration.scale < 0.5 and recalibration.shift == 0.0
    assert (
        expected_calibration_error(labels, recalibration.apply(overconfident))
        < expected_calibration_error(labels, overconfident) / 2
    )


def test_platt_scaling_fits_a_shift_and_none_is_the_identity():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 2000)
    score = np.where(labels == 1, 1.0, -1.0) + rng.normal(0, 1, labels.size)
    shifted = 1 / (1 + np.exp(-(score - 2)))
    platt = fit_recalibration(labels, shifted, "platt")
    # The true log-odds of a score s from N(+-1, 1) is 2s = 2 * (logit + 2): scale 2, shift 4.
    assert platt.scale == pytest.approx(2.0, abs=0.3) and platt.shift == pytest.approx(4.0, abs=0.5)
    assert np.array_equal(Recalibration().apply(shifted), shifted)


def test_fixed_rule_returns_its_threshold_without_reading_the_data():
    rule = OperatingPointRule("fixed", 0.5, 0.9)
    assert choose_threshold(np.array([1, 1]), np.array([0.1, 0.2]), rule) == 0.5


def test_sensitivity_rule_takes_the_highest_threshold_that_reaches_the_target():
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    probabilities = np.array([0.05, 0.2, 0.35, 0.3, 0.6, 0.7, 0.9])
    # malignant probabilities sorted: 0.9, 0.7, 0.6, 0.3;
    # 3 of 4 = 0.75 reached at 0.6, 4 of 4 at 0.3
    assert (
        choose_threshold(labels, probabilities, OperatingPointRule("sensitivity", 0.5, 0.75)) == 0.6
    )
    assert (
        choose_threshold(labels, probabilities, OperatingPointRule("sensitivity", 0.5, 0.9)) == 0.3
    )


def test_youden_rule_maximises_sensitivity_plus_specificity():
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    probabilities = np.array([0.05, 0.2, 0.35, 0.3, 0.6, 0.7, 0.9])
    # at 0.6: sens 3/4 + spec 3/3 - 1 = 0.75; at 0.3: sens 1 + spec 2/3 - 1 = 0.667
    assert choose_threshold(labels, probabilities, OperatingPointRule("youden", 0.5, 0.9)) == 0.6


def test_the_record_reports_what_the_threshold_gives_on_validation():
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    probabilities = np.array([0.05, 0.2, 0.35, 0.3, 0.6, 0.7, 0.9])
    record = operating_point_record(
        labels, probabilities, OperatingPointRule("sensitivity", 0.5, 0.9)
    )
    assert record["threshold"] == 0.3 and record["chosen_on"] == "validation"
    assert record["validation_sensitivity"] == 1.0
    assert record["validation_specificity"] == pytest.approx(2 / 3)


def test_an_unknown_rule_or_one_class_validation_set_is_refused():
    with pytest.raises(ValueError, match="not one of"):
        OperatingPointRule("f1", 0.5, 0.9)
    with pytest.raises(ValueError, match="both classes"):
        choose_threshold(
            np.array([1, 1]), np.array([0.4, 0.6]), OperatingPointRule("youden", 0.5, 0.9)
        )
