"""How an estimate with its interval is written everywhere (tables, model card, job logs):
``0.912 (0.871-0.945)``; without an interval the value alone, without a value ``n/a``."""

import math


def format_estimate(value, low=None, high=None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:.3f}"
    if low is not None and not (isinstance(low, float) and math.isnan(low)):
        text += f" ({low:.3f}-{high:.3f})"
    return text


def format_metric(metric: dict) -> str:
    """A metrics.json entry ({value, ci_low, ci_high}) as format_estimate writes it."""
    return format_estimate(metric["value"], metric.get("ci_low"), metric.get("ci_high"))
