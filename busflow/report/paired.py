"""Two runs on the same test images, compared pairwise: e.g. whole images vs lesion regions, per
held-out hospital of a leave-one-site-out run.

The difference of each metric (B minus A) gets a bootstrap interval that resamples the test
images' groups (patients, else duplicate groups) jointly for both runs, so the runs' shared
image-to-image variation cancels: the interval is of the difference, not two intervals side by
side. Each run is scored at its own operating point (the thresholds in its predictions.csv).

python -m busflow.report.paired RUN_A RUN_B [--model transfer] [--names whole roi] [-o table.md]
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from busflow.evaluate.metrics import cluster_members, point_metrics

METRICS = ("auc", "sensitivity", "specificity")


def fold_predictions(run: Path, model: str) -> dict[int, pd.DataFrame]:
    """Each fold's test predictions of ``model`` (a one-split run: fold 0)."""
    folds = sorted((run / "results/folds").glob(f"*/eval/{model}/predictions.csv"))
    files = folds or [run / f"results/eval/{model}/predictions.csv"]
    return {
        int(path.parts[-4]) if folds else 0: pd.read_csv(path, keep_default_na=False)
        for path in files
    }


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, resamples: int, seed: int) -> dict:
    """Each metric in A and B on the images both scored, and B - A with a percentile interval
    over resampled groups. ValueError when the runs share no image."""
    both = a.merge(b, on=["image_id", "label", "group"], suffixes=("_a", "_b"))
    if both.empty:
        raise ValueError("the two runs share no test image: compare runs of the same data")
    labels = both["label"].to_numpy()

    def scores(rows):
        return [
            point_metrics(
                labels[rows],
                both[f"probability_{k}"].to_numpy()[rows],
                both[f"threshold_{k}"].to_numpy()[rows],
            )
            for k in ("a", "b")
        ]

    members = cluster_members(both["group"].to_numpy(), len(both))
    rng = np.random.default_rng(seed)
    draws = {name: [] for name in METRICS}
    for _ in range(resamples):
        rows = np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
        one, two = scores(rows)
        for name in METRICS:
            draws[name].append(two[name] - one[name])
    one, two = scores(np.arange(len(both)))
    return {
        "n": len(both),
        "n_groups": len(members),
        **{
            name: {
                "a": one[name],
                "b": two[name],
                "difference": two[name] - one[name],
                "ci": tuple(np.nanpercentile(draws[name], [2.5, 97.5])),
            }
            for name in METRICS
        },
    }


def compare_runs(run_a, run_b, model: str, resamples: int = 2000, seed: int = 11) -> list[dict]:
    """One paired comparison per fold both runs have, with the fold's held-out site if any."""
    a, b = fold_predictions(Path(run_a), model), fold_predictions(Path(run_b), model)
    sites = held_out_sites(Path(run_a), model)
    return [
        {
            "fold": fold,
            "site": sites.get(fold, ""),
            **paired_difference(a[fold], b[fold], resamples, seed),
        }
        for fold in sorted(set(a) & set(b))
    ]


def held_out_sites(run: Path, model: str) -> dict[int, str]:
    """Each fold's held-out site (leave one site out), from its metrics.json."""
    found = {}
    for path in (run / "results/folds").glob(f"*/eval/{model}/metrics.json"):
        record = json.loads(path.read_text())
        found[int(path.parts[-4])] = record.get("held_out_site", "")
    return found


def to_markdown(rows: list[dict], names: tuple[str, str]) -> str:
    a, b = names
    lines = [
        f"| Held-out site | n (groups) | Metric | {a} | {b} | {b} - {a} (95% CI, paired) |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        for name in METRICS:
            m = row[name]
            lines.append(
                f"| {row['site'] or row['fold']} | {row['n']} ({row['n_groups']}) | {name} | "
                f"{m['a']:.3f} | {m['b']:.3f} | {m['difference']:+.3f} "
                f"({m['ci'][0]:+.3f} to {m['ci'][1]:+.3f}) |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m busflow.report.paired",
        description="Two runs of the same data (e.g. whole image vs lesion region) compared on "
        "the same test images, per fold or held-out site: each metric's difference B - A with "
        "a paired bootstrap interval over patients (or duplicate groups).",
    )
    parser.add_argument("run_a", help="the first run's working directory (holds results/)")
    parser.add_argument("run_b", help="the second run's working directory")
    parser.add_argument("--model", default="transfer", help="the model compared (transfer)")
    parser.add_argument("--names", nargs=2, default=("A", "B"), help="column names of A and B")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("-o", "--output", help="Markdown file to write (default: print)")
    args = parser.parse_args(argv)
    text = to_markdown(
        compare_runs(args.run_a, args.run_b, args.model, args.resamples), tuple(args.names)
    )
    if args.output:
        Path(args.output).write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
