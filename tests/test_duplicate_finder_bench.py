"""Smoke check of bench/duplicate_finder.py: it runs on a few demo images and prints a row per
perturbation kind for both finders. Not a figure assertion beyond what a working finder must
give."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_benchmark_prints_recall_and_false_merges_per_perturbation():
    command = [
        sys.executable,
        str(REPO / "bench" / "duplicate_finder.py"),
        "--n",
        "8",
        "--sizes",
        "64",
        "--timing",
        "0",
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for kind in (
        "shift 5%",
        "crop 6%",
        "scale x0.5",
        "brightness +20",
        "jpeg q50",
        "calipers",
        "distinct",
    ):
        assert kind in result.stdout
    assert "recall" in result.stdout and "false_merges" in result.stdout
