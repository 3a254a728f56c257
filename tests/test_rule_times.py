"""Per-rule wall times from Snakemake benchmark files."""

import re
from pathlib import Path

import pytest

from busflow.models.registry import model_names
from busflow.report.rule_times import RULE_ORDER, collect, main, summarise

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_benchmark(path, seconds, rss="-"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t1\t1\n")


def test_rules_are_summed_over_their_jobs_in_dag_order(tmp_path, capsys):
    bench = tmp_path / "results" / "benchmarks"
    write_benchmark(bench / "train_finetune" / "fold0.tsv", 90.0, 3000.5)
    write_benchmark(bench / "train_finetune" / "fold1.tsv", 110.0, 3500.0)
    write_benchmark(bench / "build_manifest.tsv", 3.5)
    summary = summarise(collect(tmp_path))
    assert summary["rule"].tolist() == ["build_manifest", "train_finetune"]
    finetune = summary.iloc[1]
    assert (
        finetune["jobs"],
        finetune["min_s"],
        finetune["max_s"],
        finetune["total_s"],
        finetune["peak_rss_mb"],
    ) == (2, 90.0, 110.0, 200.0, 3500.0)
    main([str(tmp_path)])
    printed = capsys.readouterr().out
    assert "| train_finetune | 2 | 90.0-110.0 | 200.0 | 3500 |" in printed
    assert "| build_manifest | 1 | 3.5 | 3.5 |  |" in printed
    assert "| **all rules** | 3 | | 203.5 | |" in printed


def test_a_run_without_benchmarks_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="results/benchmarks: no benchmark files"):
        collect(tmp_path)


def test_the_dag_order_names_every_rule():
    """A rule missing from RULE_ORDER (choose_operating_point was) drifts to the table's end."""
    rules_dir = Path(__file__).resolve().parents[1] / "rules"
    written = {
        name
        for smk in rules_dir.glob("*.smk")
        for name in re.findall(r"^(?:rule|checkpoint) (\w+):", smk.read_text(), re.M)
    }
    assert written | {f"train_{model}" for model in model_names()} == set(RULE_ORDER)
