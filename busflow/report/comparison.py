"""The comparison table: this run's models beside the paper's Table 1 and Hadad et al."""

import math

import numpy as np
import pandas as pd

from busflow.data.regions import RoiRule
from busflow.protocol import note as leak_note
from busflow.report.estimates import format_estimate

ESTIMATES = ["accuracy", "auc", "sensitivity", "specificity"]
COLUMNS = [
    "source",
    "modality",
    "model",
    "protocol",
    "leaky",
    "weights",
    "evaluation",
    "n",
    *[f"{name}{part}" for name in ESTIMATES for part in ("", "_ci_low", "_ci_high")],
    "threshold",
    "ece",
    "brier",
    "note",
    "trained_on",
    "ci_unit",
    "n_units",
]
HEADER = [
    "Source",
    "Modality",
    "Model",
    "Protocol",
    "Weights",
    "Evaluation",
    "n",
    "Accuracy (95% CI)",
    "AUC (95% CI)",
    "Threshold",
    "Sensitivity (95% CI)",
    "Specificity (95% CI)",
    "ECE",
    "Brier",
]


OURS = "busflow (this run)"


def run_row(metrics: dict) -> dict:
    """One table row from an evaluation's metrics.json (``external`` names an external test set)."""
    m = metrics["metrics"]
    source = OURS
    if metrics.get("external"):
        source = f"busflow (external: {metrics['external']})"
    elif metrics.get("held_out_site"):
        source = f"busflow (held-out site: {metrics['held_out_site']})"
    row = {
        "source": source,
        "modality": "US",
        "model": metrics["model"],
        "protocol": metrics["protocol"],
        "leaky": metrics["leaky"],
        "weights": metrics.get("weights", ""),
        "evaluation": evaluation_label(metrics),
        "n": metrics["n"],
        "note": leak_note(bool(metrics["leaky"])),
        "trained_on": metrics.get("device", {}).get("training", ""),
        **ci_unit_of(metrics),
    }
    for name in ESTIMATES:
        # runs made before sensitivity and specificity were reported have accuracy and AUC only
        estimate = m.get(name, {"value": math.nan, "ci_low": math.nan, "ci_high": math.nan})
        row.update(
            {
                name: estimate["value"],
                f"{name}_ci_low": estimate["ci_low"],
                f"{name}_ci_high": estimate["ci_high"],
            }
        )
    calibration = metrics.get("calibration", {})
    row.update(
        threshold=threshold_label(metrics["operating_point"])
        if "operating_point" in metrics
        else "",
        ece=calibration.get("ece", math.nan),
        brier=calibration.get("brier", math.nan),
    )
    return row


def ci_unit_of(metrics: dict) -> dict:
    """What the row's CI resamples (patients, duplicate groups, source images), or the folds
    its t-interval is over; runs made before units were recorded resampled images."""
    if "ci_method" in metrics:
        return {"ci_unit": "folds (t-interval)", "n_units": len(metrics.get("folds", []))}
    return {
        "ci_unit": metrics.get("ci_unit", "images"),
        "n_units": metrics.get("n_units", metrics["n"]),
    }


def threshold_label(operating_point: dict) -> str:
    """How the comparison table names an operating point, e.g. '0.312 (sensitivity 0.90 on val)'."""
    thresholds = operating_point.get("thresholds", [operating_point.get("threshold")])
    value = f"{np.mean(thresholds):.3g}" + (" (fold mean)" if len(thresholds) > 1 else "")
    rule = operating_point["rule"]
    if rule == "fixed":
        return f"{value} (fixed)"
    if rule == "sensitivity":
        return f"{value} (sensitivity {operating_point['target_sensitivity']:.2f} on val)"
    return f"{value} (Youden on val)"


def evaluation_label(metrics: dict) -> str:
    """How the figures were obtained, e.g. '5-fold CV, mean of 5 test-time views'."""
    label = metrics.get("evaluation", "test split")
    copies = metrics.get("test_time_augmentation", 0)
    return f"{label}, mean of {copies + 1} test-time views" if copies else label


def comparison_table(run_metrics: list[dict], references: pd.DataFrame) -> pd.DataFrame:
    """This run's rows first, then every reference row; reference CIs are unknown (NaN)."""
    refs = references.copy()
    refs["leaky"] = refs["leaky"].astype(bool)
    refs["weights"] = ""
    refs["evaluation"] = "as published"
    refs["n"] = pd.NA
    refs["trained_on"] = ""
    rows = pd.DataFrame([run_row(m) for m in run_metrics])
    return pd.concat([rows, refs], ignore_index=True).reindex(columns=COLUMNS)


def n_label(n, unit, n_units) -> str:
    """A row's n, and the units its CI resampled where they are not the images: '207 (160
    patients)'."""
    if pd.isna(n):
        return ""
    if not isinstance(unit, str) or unit in ("images", "") or pd.isna(n_units):
        return str(int(n))
    return f"{int(n)} ({int(n_units)} {unit.split(' (')[0]})"


def display_cells(row) -> list[str]:
    """One table row as the Markdown and HTML tables show it (HEADER's columns)."""
    n = n_label(row.n, row.ci_unit, row.n_units)
    estimates = {
        name: format_estimate(
            getattr(row, name), getattr(row, f"{name}_ci_low"), getattr(row, f"{name}_ci_high")
        )
        for name in ESTIMATES
    }
    threshold = "" if pd.isna(row.threshold) else row.threshold
    return [
        row.source,
        row.modality,
        row.model,
        row.protocol,
        row.weights or "",
        row.evaluation,
        n,
        estimates["accuracy"],
        estimates["auc"],
        threshold,
        estimates["sensitivity"],
        estimates["specificity"],
        format_estimate(row.ece),
        format_estimate(row.brier),
    ]


INTRO = (
    "Accuracy, ROC AUC, and sensitivity and specificity at each model's operating point (a "
    "threshold chosen on its validation images, or fixed in the config) on each source's test set; "
    "calibration as expected calibration error (ECE) and Brier score. busflow rows give 95% CIs: "
    "for one split or an external set a bootstrap over the independent units, which n names in "
    "brackets (patients where the data names them, else duplicate groups; under the paper's "
    "protocol the source images, not their augmented copies); for k-fold CV and leave-one-site-"
    "out the mean over the folds with a t-interval, and n counts each image once (its test fold)."
)


def region_sentence(roi: dict | None) -> str:
    """What busflow's rows saw of each image (data.roi), as the table says it."""
    rule = RoiRule.of(roi or {})
    if not rule.used:
        return "busflow's models saw whole images."
    return (
        f"busflow's models saw the {rule.describe()}: every busflow figure depends on an expert's "
        "mask or box for each image, at test time too."
    )


def to_markdown(
    table: pd.DataFrame, title: str = "busflow comparison", roi: dict | None = None
) -> str:
    """A Markdown table with 95% CIs in brackets, a line on what 'leaky' means, and one on the
    image region the models saw."""
    lines = [
        f"# {title}",
        "",
        INTRO + " "
        "Rows marked **leaky** split *after* augmentation, so copies of one image sit in train and "
        "test and their figures are inflated; **leak-free** rows split duplicate groups first. "
        + region_sentence(roi),
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    for row in table.itertuples():
        cells = display_cells(row)
        if row.leaky:
            cells[3] = f"{row.protocol} (**leaky**)"
        elif row.source.startswith("busflow"):
            cells[3] = f"{row.protocol} (**leak-free**)"
        lines.append("| " + " | ".join(cells) + " |")
    devices = trained_on_lines(table)
    if devices:
        lines += [
            "",
            "Where this run's models were trained (backend, version, device):",
            "",
            *(f"- {line}" for line in devices),
        ]
    return "\n".join(lines) + "\n"


def trained_on_lines(table: pd.DataFrame) -> list[str]:
    """'baseline, transfer: jax 0.4.38 on gpu NVIDIA H100 ...' for
    this run's (not external) rows."""
    ours = table[(table["source"] == OURS) & table["trained_on"].fillna("").astype(bool)]
    models_by_device = ours.groupby("trained_on", sort=False)["model"].apply(list)
    return [f"{', '.join(models)}: {device}" for device, models in models_by_device.items()]


def to_html(table: pd.DataFrame, title: str = "busflow comparison", roi: dict | None = None) -> str:
    """The Markdown table's content as a standalone HTML page (Snakemake's report shows HTML)."""
    import html

    rows = []
    for row in table.itertuples():
        cells = display_cells(row)
        cells[3] = f"{row.protocol} ({'leaky' if row.leaky else 'leak-free'})"
        style = ' style="background:#fff3cd"' if row.leaky else ""
        rows.append(
            f"<tr{style}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
        )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;"
        "padding:4px 8px}</style></head><body>"
        f"<h2>{html.escape(title)}</h2><p>{html.escape(INTRO)} "
        "Highlighted rows are <b>leaky</b>: split after augmentation, so copies of one image are "
        f"in train and test. {html.escape(region_sentence(roi))}</p><table><tr>"
        + "".join(f"<th>{h}</th>" for h in HEADER)
        + "</tr>"
        + "".join(rows)
        + "</table>"
        + "".join(f"<p>Trained on: {html.escape(line)}</p>" for line in trained_on_lines(table))
        + "</body></html>\n"
    )
