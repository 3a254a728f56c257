"""Wall time and peak memory of each rule of a finished run, from its benchmark files.

    python -m busflow.report.rule_times RUN_DIR [-o times.md]

Reads RUN_DIR/results/benchmarks/<rule>.tsv and <rule>/<job>.tsv (Snakemake's ``benchmark:``
files) and prints one Markdown row per rule: jobs, seconds per job (min-max), total, peak RSS.
"""

import argparse
from pathlib import Path

import pandas as pd

from busflow.models.registry import model_names


def collect(run_dir) -> pd.DataFrame:
    """One row per job: rule, job, seconds, max_rss (MB)."""
    root = Path(run_dir) / "results" / "benchmarks"
    rows = []
    for tsv in sorted(root.rglob("*.tsv")):
        relative = tsv.relative_to(root)
        rule = relative.parts[0].removesuffix(".tsv")
        job = tsv.stem if len(relative.parts) > 1 else ""
        table = pd.read_csv(tsv, sep="\t")
        rows.append(
            {
                "rule": rule,
                "job": job,
                "seconds": float(table["s"].iloc[0]),
                "max_rss": pd.to_numeric(table["max_rss"], errors="coerce").iloc[0],
            }
        )
    if not rows:
        raise FileNotFoundError(
            f"{root}: no benchmark files; run the workflow into {run_dir} first."
        )
    return pd.DataFrame(rows)


# The DAG's order, every rule of rules/*.smk (tests/test_rule_times.py); one not listed goes last.
RULE_ORDER = [
    "generate_demo_data",
    "build_manifest",
    "split_images",
    "split_views",
    "augment_shard",
    "fetch_vgg16_weights",
    "extract_vgg16_features",
    *(f"train_{model}" for model in model_names()),
    "choose_operating_point",
    "evaluate_model",
    "summarise_folds",
    "build_external_manifest",
    "evaluate_external",
    "plot_external_figures",
    "compare_models",
    "plot_figures",
    "scorecam_examples",
    "export_models",
    "index_exports",
    "write_model_card",
    "predict_images",
]


def summarise(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per rule, in the DAG's order: job count, min/max/total seconds, peak RSS."""
    grouped = jobs.groupby("rule")
    summary = pd.DataFrame(
        {
            "jobs": grouped.size(),
            "min_s": grouped["seconds"].min(),
            "max_s": grouped["seconds"].max(),
            "total_s": grouped["seconds"].sum(),
            "peak_rss_mb": grouped["max_rss"].max(),
        }
    ).reset_index()
    rank = {rule: i for i, rule in enumerate(RULE_ORDER)}
    return summary.sort_values(
        "rule", key=lambda rules: rules.map(lambda r: rank.get(r, len(rank))), kind="stable"
    ).reset_index(drop=True)


def to_markdown(summary: pd.DataFrame) -> str:
    lines = [
        "| Rule | Jobs | Seconds per job | Total seconds | Peak RSS (MB) |",
        "|---|---|---|---|---|",
    ]
    for r in summary.itertuples():
        per_job = f"{r.min_s:.1f}" if r.jobs == 1 else f"{r.min_s:.1f}-{r.max_s:.1f}"
        rss = "" if pd.isna(r.peak_rss_mb) else f"{r.peak_rss_mb:.0f}"
        lines.append(f"| {r.rule} | {r.jobs} | {per_job} | {r.total_s:.1f} | {rss} |")
    lines.append(
        f"| **all rules** | {int(summary['jobs'].sum())} | | {summary['total_s'].sum():.1f} | |"
    )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m busflow.report.rule_times", description=__doc__.splitlines()[0]
    )
    parser.add_argument("run_dir")
    parser.add_argument("-o", "--output", help="Markdown file (default: print)")
    args = parser.parse_args(argv)
    text = to_markdown(summarise(collect(args.run_dir)))
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
