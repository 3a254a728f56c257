"""A model's decision threshold, chosen on its validation data before any test image is scored.

At 0.5 a model trained on one hospital's images can miss most malignant lesions on another's
(its probabilities shift with the scanner). A clinic picks the operating point it needs, usually a
target sensitivity, on data the model did not train on; busflow does the same on the validation
split (or fold) and then applies that threshold unchanged to the test split and to every external
set. Nothing here sees a test label.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_curve

from busflow.evaluate.calibration import Recalibration, calibration_summary, fit_recalibration

RULES = ("fixed", "youden", "sensitivity")


@dataclass(frozen=True)
class OperatingPointRule:
    """How to choose the threshold: ``fixed`` (``threshold``), ``youden`` (max sensitivity +
    specificity - 1) or ``sensitivity`` (the highest threshold that reaches
    ``target_sensitivity``)."""

    rule: str
    threshold: float
    target_sensitivity: float

    @classmethod
    def from_config(cls, section: dict) -> "OperatingPointRule":
        """From the validated ``evaluation.operating_point`` section
        (defaults live in the schema)."""
        return cls(
            section["rule"], float(section["threshold"]), float(section["target_sensitivity"])
        )

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"operating point rule '{self.rule}' is not one of {', '.join(RULES)}")


def choose_threshold(labels, probabilities, rule: OperatingPointRule) -> float:
    """The threshold (predict malignant when probability >= threshold) that ``rule`` picks on these
    validation labels and probabilities. Needs both classes unless the rule is ``fixed``."""
    if rule.rule == "fixed":
        return rule.threshold
    labels = np.asarray(labels).astype(int)
    if len(np.unique(labels)) < 2:
        raise ValueError("choosing an operating point needs validation images of both classes")
    fpr, tpr, thresholds = roc_curve(
        labels, np.asarray(probabilities, dtype=float), drop_intermediate=False
    )
    # roc_curve's first threshold is +inf (nothing predicted positive): never an operating point
    fpr, tpr, thresholds = fpr[1:], tpr[1:], thresholds[1:]
    if rule.rule == "youden":
        return float(thresholds[int(np.argmax(tpr - fpr))])
    # thresholds fall along the curve, so the first that reaches the target is the highest one
    reached = np.flatnonzero(tpr >= rule.target_sensitivity - 1e-12)
    return float(thresholds[reached[0]])


def operating_point_record(labels, probabilities, rule: OperatingPointRule) -> dict:
    """The threshold and what it gives on the validation data it was chosen on."""
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=float)
    threshold = choose_threshold(labels, probabilities, rule)
    predicted = probabilities >= threshold
    positives, negatives = labels == 1, labels == 0
    return {
        "rule": rule.rule,
        "target_sensitivity": rule.target_sensitivity if rule.rule == "sensitivity" else None,
        "threshold": threshold,
        "chosen_on": "validation",
        "n_validation": int(len(labels)),
        "validation_sensitivity": float(predicted[positives].mean())
        if positives.any()
        else float("nan"),
        "validation_specificity": float((~predicted[negatives]).mean())
        if negatives.any()
        else float("nan"),
    }


def fixed_operating_point(rule: OperatingPointRule) -> dict:
    """The record of a threshold set in the config: nothing is fitted, no image is read."""
    return {
        "operating_point": {
            "rule": "fixed",
            "target_sensitivity": None,
            "threshold": rule.threshold,
            "chosen_on": "config (evaluation.operating_point.threshold)",
        },
        "recalibration": Recalibration().as_record(),
    }


def choose_operating_point(
    labels, probabilities, rule: OperatingPointRule, recalibration: str, bins: int
) -> dict:
    """The operating_point/{model}.json body, from validation labels and probabilities: the
    recalibration fitted on them, the threshold chosen on the recalibrated probabilities, and the
    validation calibration it gives."""
    fitted = fit_recalibration(labels, probabilities, recalibration)
    calibrated = fitted.apply(probabilities)
    return {
        "operating_point": operating_point_record(labels, calibrated, rule),
        "recalibration": fitted.as_record(),
        "validation_calibration": calibration_summary(labels, calibrated, bins),
    }


def apply_operating_point(chosen: dict, probabilities) -> tuple[np.ndarray, float]:
    """(recalibrated probabilities, threshold) of a chosen operating point on new images."""
    return Recalibration.from_record(chosen["recalibration"]).apply(probabilities), chosen[
        "operating_point"
    ]["threshold"]
