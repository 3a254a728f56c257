"""Whether a model's probabilities mean what they say, and a recalibration fitted on validation
data.

A probability of 0.8 should be right about 80% of the time. Expected calibration error (ECE) and
the Brier score measure that on test and external sets; the reliability diagram shows it.
Temperature and Platt scaling refit the probabilities on the validation data only and are then
applied, unchanged, to the test split and external sets (like the operating point).
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

METHODS = ("none", "temperature", "platt")
EPSILON = 1e-7


def bin_index(probabilities, n_bins: int) -> np.ndarray:
    """Equal-width bins over [0, 1]; 1.0 falls in the last bin (as
    in sklearn's calibration_curve)."""
    return np.minimum((np.asarray(probabilities, dtype=float) * n_bins).astype(int), n_bins - 1)


def expected_calibration_error(labels, probabilities, n_bins: int = 10) -> float:
    """Sum over bins of (share of images in the bin) x |fraction malignant - mean probability|."""
    labels = np.asarray(labels, dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    bins = bin_index(probabilities, n_bins)
    error = 0.0
    for b in np.unique(bins):
        members = bins == b
        error += members.mean() * abs(labels[members].mean() - probabilities[members].mean())
    return float(error)


def calibration_summary(labels, probabilities, n_bins: int = 10) -> dict:
    """ECE, Brier score and the reliability curve's points (non-empty bins only)."""
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=float)
    fraction_positive, mean_probability = calibration_curve(
        labels, probabilities, n_bins=n_bins, strategy="uniform"
    )
    return {
        "ece": expected_calibration_error(labels, probabilities, n_bins),
        "brier": float(brier_score_loss(labels, probabilities, pos_label=1)),
        "n_bins": n_bins,
        "reliability": {
            "mean_probability": mean_probability.tolist(),
            "fraction_malignant": fraction_positive.tolist(),
        },
    }


def logit(probabilities) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, dtype=float), EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


def sigmoid(z) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))


@dataclass(frozen=True)
class Recalibration:
    """probability -> sigmoid(scale * logit(probability) + shift); identity is (1, 0).
    Temperature scaling fits scale = 1/T with shift 0; Platt scaling fits both."""

    method: str = "none"
    scale: float = 1.0
    shift: float = 0.0

    def apply(self, probabilities) -> np.ndarray:
        if self.method == "none":
            return np.asarray(probabilities, dtype=float)
        return sigmoid(self.scale * logit(probabilities) + self.shift)

    def as_record(self) -> dict:
        fitted_on = "validation" if self.method != "none" else None
        return {
            "method": self.method,
            "scale": self.scale,
            "shift": self.shift,
            "fitted_on": fitted_on,
        }

    @classmethod
    def from_record(cls, record: dict) -> "Recalibration":
        return cls(record["method"], float(record["scale"]), float(record["shift"]))


def fit_recalibration(labels, probabilities, method: str) -> Recalibration:
    """The recalibration ``method`` fitted on validation labels and probabilities (log-loss)."""
    if method not in METHODS:
        raise ValueError(f"recalibration '{method}' is not one of {', '.join(METHODS)}")
    if method == "none":
        return Recalibration()
    labels = np.asarray(labels).astype(int)
    z = logit(probabilities)
    if method == "temperature":

        def negative_log_likelihood(log_scale):
            p = np.clip(sigmoid(np.exp(log_scale) * z), EPSILON, 1 - EPSILON)
            return -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))

        best = minimize_scalar(negative_log_likelihood, bounds=(-5, 5), method="bounded")
        return Recalibration("temperature", float(np.exp(best.x)), 0.0)
    platt = LogisticRegression(C=1e6).fit(z[:, None], labels)
    return Recalibration("platt", float(platt.coef_[0, 0]), float(platt.intercept_[0]))
