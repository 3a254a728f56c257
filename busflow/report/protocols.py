"""Leak-free and paper-protocol runs side by side: how much the paper's split inflates the figures.

python -m busflow.report.protocols LEAK_FREE/results/comparison.csv PAPER/results/comparison.csv \
    -o table.md
"""

import argparse
from pathlib import Path

import pandas as pd

from busflow.protocol import LEAK_FREE, PAPER
from busflow.report.comparison import OURS, format_estimate


def side_by_side(leak_free: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """One row per model: both protocols' accuracy/AUC (with CIs) and the leak's inflation."""
    a = leak_free[leak_free["source"] == OURS].set_index("model")
    b = paper[paper["source"] == OURS].set_index("model")
    if a["leaky"].astype(bool).any() or not b["leaky"].astype(bool).all():
        raise ValueError(
            "the first table must be a leak_free run and the second a paper-protocol run"
        )
    rows = []
    for model in a.index.intersection(b.index, sort=False):
        row = {"model": model}
        for metric in ("accuracy", "auc"):
            for name, table in ((LEAK_FREE, a), (PAPER, b)):
                row[f"{metric}_{name}"] = format_estimate(
                    *table.loc[model, [metric, f"{metric}_ci_low", f"{metric}_ci_high"]]
                )
            row[f"{metric}_inflation"] = float(b.loc[model, metric] - a.loc[model, metric])
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame, references: pd.DataFrame) -> str:
    lines = [
        "| Model | Accuracy, leak-free | Accuracy, paper protocol (**leaky**) | Inflation | "
        "AUC, leak-free | AUC, paper protocol (**leaky**) | Inflation |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.model} | {r.accuracy_leak_free} | {r.accuracy_paper} | "
            f"{r.accuracy_inflation:+.3f} | {r.auc_leak_free} | "
            f"{r.auc_paper} | {r.auc_inflation:+.3f} |"
        )
    lines += [
        "",
        "Published figures for reference (no CIs given):",
        "",
        "| Source | Modality | Model | Accuracy | AUC | Protocol |",
        "|---|---|---|---|---|---|",
    ]
    for r in references[~references["source"].str.startswith("busflow")].itertuples():
        lines.append(
            f"| {r.source} | {r.modality} | {r.model} | {r.accuracy:.4g} "
            f"| {r.auc:.4g} | {r.protocol} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m busflow.report.protocols", description=__doc__.splitlines()[0]
    )
    parser.add_argument("leak_free_csv")
    parser.add_argument("paper_csv")
    parser.add_argument("-o", "--output", help="Markdown file (default: print)")
    args = parser.parse_args(argv)
    leak_free, paper = pd.read_csv(args.leak_free_csv), pd.read_csv(args.paper_csv)
    text = to_markdown(side_by_side(leak_free, paper), leak_free)
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
