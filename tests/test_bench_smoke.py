"""Smoke check of bench/stages.py: every stage runs on the workflow's code and reports a throughput.

Not a timing assertion: it fails only if a stage breaks, reports no throughput, or the JSON
loses a key that readers of bench/results rely on.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGES = [
    "shard_load",
    "h2d_feed",
    "features",
    "head_train",
    "block5_train",
    "baseline_train",
    "evaluate",
]
MODEL_STAGES = STAGES[2:]
REPORT_KEYS = {
    "name",
    "device",
    "backend",
    "versions",
    "args",
    "policy",
    "matmul_peak",
    "vgg16_reference_flops",
    "stages",
    "peer",
    "created",
}
STAGE_KEYS = {
    "stage",
    "images",
    "seconds",
    "batch",
    "img_per_s",
    "ms_per_step",
    "gflop_per_image",
    "tflops",
    "pct_of_peak",
    "jit_compile",
    "peer_img_per_s",
    "ours_over_peer",
    "description",
}


def run_quick(json_path: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    command = [
        sys.executable,
        str(REPO / "bench" / "stages.py"),
        "--quick",
        "--no-peer",
        "--json",
        str(json_path),
    ]
    # The generous timeout only guards against a hang; the run takes ~10 s on 2 idle cores.
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """(completed process, JSON report) of one --quick run, shared by the tests below."""
    json_path = tmp_path_factory.mktemp("bench") / "bench.json"
    result = run_quick(json_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result, json.loads(json_path.read_text())


def test_quick_run_reports_every_stage(quick):
    result, report = quick
    assert REPORT_KEYS <= report.keys()
    assert {"kind", "name"} <= report["device"].keys()
    assert {"keras", "numpy", report["backend"]} <= report["versions"].keys()
    assert report["args"]["quick"] is True
    assert report["matmul_peak"]["tflops"] > 0

    rows = {row["stage"]: row for row in report["stages"]}
    assert list(rows) == STAGES
    for name, row in rows.items():
        assert STAGE_KEYS <= row.keys(), name
        assert row["images"] > 0 and row["seconds"] > 0 and row["img_per_s"] > 0, name
    for name in MODEL_STAGES:
        assert rows[name]["gflop_per_image"] > 0 and rows[name]["tflops"] > 0, name
    assert report["peer"] == {"available": False, "reason": "disabled (--no-peer)"}
    assert "n/a" in result.stdout  # the table says the peer is missing


def test_quick_run_checks_the_issue_flop_figures(quick):
    """The issue's 'about 31 GFLOP forward, about 93 per training step' for VGG16 at 224 px."""
    reference = quick[1]["vgg16_reference_flops"]
    assert reference["size"] == 224
    assert 30.0 < reference["forward_gflop"] < 31.5  # 15.35 GMAC x 2
    assert (
        90.0 < reference["train_step_gflop"] < 93.5
    )  # 3 x forward, less block1_conv1's input gradient
