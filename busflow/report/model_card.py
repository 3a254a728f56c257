"""The run's model card: what its models are for, what they were trained and tested on, how their
operating point was chosen, and where they are known to fail; Markdown and HTML from one outline.

Every figure comes from this run's comparison table and export records, with its interval. When
the run had no external set, the card says so and quotes busflow's own measurement of the drop on
another hospital (docs/results/busi-breast): a card that shows only the training hospital's
figures would overstate the models.
"""

import html
import math

import pandas as pd

from busflow.data.regions import RoiRule
from busflow.predict.export import INTENDED_USE
from busflow.report.comparison import OURS, format_estimate, n_label

# busflow's own cross-hospital measurements (README, "Results on real data").
MEASURED_DROP = (
    "busflow's own measurements on real data (docs/results/busi-breast): the fine-tuned VGG16 "
    "trained on BUSI (Egypt) had AUC 0.938 (0.897-0.971) on BUSI's test split and 0.736 "
    "(0.675-0.801) on BrEaST (Poland, other scanners); at the fixed threshold 0.5 it found 33% of "
    "BrEaST's malignant lesions. Trained on both sites with one held out, AUC was 0.754 on "
    "held-out BrEaST and 0.829 on held-out BUSI. Expect a drop of this size on a new hospital."
)
ESTIMATE_COLUMNS = ("auc", "accuracy", "sensitivity", "specificity")
REGION_NOTE = (
    ". Every figure here depends on an expert's annotation of each test image: a clinic needs a "
    "mask or box for every image it predicts"
)


def estimate(row, name: str) -> str:
    value = row[name]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format_estimate(value, row[f"{name}_ci_low"], row[f"{name}_ci_high"])


def results_table(rows: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = ["Test set", "Model", "Evaluation", "n", "AUC", "Accuracy", "Sensitivity"]
    header += ["Specificity", "Threshold"]
    body = [
        [
            "this run's own data"
            if r["source"] == OURS
            else r["source"].removeprefix("busflow (")[:-1],
            r["model"],
            r["evaluation"],
            n_label(r["n"], r.get("ci_unit"), r.get("n_units")),
            *[estimate(r, name) for name in ESTIMATE_COLUMNS],
            str(r["threshold"]),
        ]
        for _, r in rows.iterrows()
    ]
    return header, body


def drop_lines(ours: pd.DataFrame, external: pd.DataFrame) -> list[str]:
    """Per external row: the model's AUC at home, there, and the difference."""
    home = ours.set_index("model")["auc"]
    lines = []
    for _, r in external.iterrows():
        if r["model"] in home.index:
            set_name = r["source"].removeprefix("busflow (external: ").rstrip(")")
            lines.append(
                f"{r['model']}: AUC {home[r['model']]:.3f} on this run's test data, "
                f"{estimate(r, 'auc')} on {set_name} ({r['auc'] - home[r['model']]:+.3f})"
            )
    return lines


def training_lines(records: list[dict]) -> list[str]:
    data = records[0]["training_data"]
    sites = ", ".join(f"{site}: {n}" for site, n in data["per_site"].items())
    classes = ", ".join(f"{label}: {n}" for label, n in data["per_class"].items())
    folds = records[0]["model"]["folds"]
    return [
        f"Training images ({'fold 0 of ' + str(folds) if folds > 1 else 'the train split'}): "
        f"{data['n_images']} ({classes}); sites: {sites}",
        f"Validation images (operating point, recalibration): {data['n_validation']}; "
        f"test images: {data['n_test']}",
        f"Data fingerprint of the whole run: {data['run_fingerprint'][:16]} (SHA-256 of the "
        "image ids and pixel hashes; model.json has each model's own)",
        f"Input: {records[0]['input']['pixels']}",
        f"Image region: {RoiRule.from_record(records[0]['input'].get('roi')).describe()}"
        + REGION_NOTE * RoiRule.from_record(records[0]["input"].get("roi")).used,
    ]


def protocol_lines(records: list[dict]) -> list[str]:
    protocol = records[0]["protocol"]
    lines = [f"{protocol['name']}: {protocol['description']}"]
    if protocol["leaky"]:
        lines.append(
            "**These results are leaky**: they reproduce the paper's protocol and overstate how "
            "the models do on new patients. Use a leak_free run for any claim."
        )
    return lines


def operating_point_lines(records: list[dict]) -> list[str]:
    lines = []
    for record in records:
        point, recalibration = record["operating_point"], record["recalibration"]
        fold = "" if record["model"]["fold"] is None else f" (fold {record['model']['fold']})"
        chosen = "fixed in the config" if point["rule"] == "fixed" else "chosen on validation"
        how = point["rule"] + (
            f", target sensitivity {point['target_sensitivity']}"
            if point.get("target_sensitivity")
            else ""
        )
        detail = (
            f" on {point['n_validation']} validation images: sensitivity "
            f"{point['validation_sensitivity']:.3f}, specificity "
            f"{point['validation_specificity']:.3f}"
            if "n_validation" in point
            else ""
        )
        lines.append(
            f"{record['model']['name']}{fold}: threshold {point['threshold']:.4g} ({how}, "
            f"{chosen}){detail}; recalibration {recalibration['method']}"
        )
    return lines


def failure_lines(ours: pd.DataFrame, external: pd.DataFrame, records: list[dict]) -> list[str]:
    if external.empty:
        lines = [
            "This run had no external set: every figure above comes from the hospital the "
            "models were trained on. " + MEASURED_DROP
        ]
    else:
        lines = ["Measured in this run, on images from elsewhere:", *drop_lines(ours, external)]
        lines.append(MEASURED_DROP)
    widest = max((r["auc_ci_high"] - r["auc_ci_low"] for _, r in ours.iterrows()), default=0)
    lines += [
        f"Small test sets: the widest AUC interval of this run spans {widest:.2f}.",
        "Images unlike the training images (other scanners, Doppler or elastography, calipers and "
        "text burnt in, other crops) are outside what was tested; python -m busflow.predict flags "
        "copies of training images, but not such shifts.",
        "The threshold was chosen on validation images of the training hospital; another clinic "
        "should check its sensitivity on its own labelled images before relying on it.",
    ]
    if records[0]["protocol"]["leaky"]:
        lines.append("Leaky protocol: the test figures are inflated (see Protocol).")
    return lines


def model_title(model: dict) -> str:
    """'transfer: VGG16 ... (starting weights: ...)' as the card lists it; exports made before
    the weights were recorded give the title alone."""
    weights = model.get("weights")
    if not weights:
        return model["title"]
    named = f"{weights['file']}, sha256 {weights['sha256'][:12]}" if weights["file"] else ""
    return f"{model['title']} (start: {weights['start']}{'; ' + named if named else ''})"


def card_outline(comparison: pd.DataFrame, records: list[dict]) -> list[tuple]:
    """The card as blocks: (h1|h2|p, text), (ul, items) or (table, header, rows)."""
    ours = comparison[comparison["source"] == OURS]
    sites = comparison[comparison["source"].str.startswith("busflow (held-out site")]
    external = comparison[comparison["source"].str.startswith("busflow (external")]
    first = records[0]
    models = sorted({(r["model"]["name"], model_title(r["model"])) for r in records})
    return [
        ("h1", "Model card: busflow breast-ultrasound classifiers (benign vs malignant)"),
        ("p", f"**Intended use**: {INTENDED_USE}."),
        ("h2", "Models"),
        ("ul", [f"{name}: {title}" for name, title in models]),
        ("h2", "Training data"),
        ("ul", training_lines(records)),
        ("h2", "Protocol"),
        ("ul", protocol_lines(records)),
        ("h2", "Results (95% intervals)"),
        ("table", *results_table(pd.concat([ours, sites, external]))),
        ("h2", "Operating point"),
        ("ul", operating_point_lines(records)),
        ("h2", "Known failure modes"),
        ("ul", failure_lines(ours, external, records)),
        ("h2", "Provenance"),
        (
            "ul",
            [
                f"Exported {first['created']} by {first['code_version']}",
                f"Keras {first['backend']['keras_version']} on {first['backend']['name']}, "
                f"{first['backend'].get('precision', 'float32')}",
                "Each model's folder under results/export/ holds model.keras (stock Keras 3), "
                "model.json and a README on using it without busflow.",
            ],
        ),
    ]


def to_markdown(outline: list[tuple]) -> str:
    lines = []
    for kind, *parts in outline:
        if kind == "h1":
            lines += [f"# {parts[0]}", ""]
        elif kind == "h2":
            lines += [f"## {parts[0]}", ""]
        elif kind == "p":
            lines += [parts[0], ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in parts[0]] + [""]
        else:
            header, rows = parts
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(row) + " |" for row in rows] + [""]
    return "\n".join(lines)


def _inline(text: str) -> str:
    """Escaped text with **bold** as <strong>."""
    pieces = html.escape(text).split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(pieces))


def to_html(outline: list[tuple]) -> str:
    body = []
    for kind, *parts in outline:
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{_inline(parts[0])}</{kind}>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in parts[0]) + "</ul>")
        else:
            header, rows = parts
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            cells = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
    style = "body{font-family:sans-serif;max-width:60em}td,th{border:1px solid #ccc;padding:3px}"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Model card</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )
