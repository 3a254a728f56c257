"""Smoke check of bench/augment_throughput.py (make bench): it runs every path and writes the JSON
that bench/results/augment_throughput.json holds. Not a timing assertion."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_augment_throughput_reports_every_path_and_the_target(tmp_path):
    out = tmp_path / "throughput.json"
    command = [sys.executable, "bench/augment_throughput.py", "--size", "32", "--n", "24"]
    command += ["--repeat", "1", "--no-pin", "--json", str(out)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    committed = json.loads((REPO / "bench/results/augment_throughput.json").read_text())
    assert set(committed["results"][0]) <= set(report["results"][0])
    assert {"target_ratio", "target_met", "results", "versions"} <= set(report)
    assert all(report["results"][0][f"{path}_img_per_s"] > 0 for path in ("workflow", "keras"))
    assert "target: workflow >= 3x keras" in result.stdout
