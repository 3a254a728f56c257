"""The workflow on a real one-node SLURM cluster (tests/slurm/cluster.sh): submission through
sbatch with a GPU request, results equal to a local run, and a training job killed mid-run that
Snakemake re-submits and that resumes to the same end."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workflow_helpers import REPO, snakemake, write_config  # noqa: E402

pytestmark = pytest.mark.slurm
CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
TEST_PROFILE = REPO / "tests" / "slurm" / "profile"
GPU_RULES = ("extract_vgg16_features", "train_baseline", "train_transfer", "train_finetune")

# Small, but the baseline runs long enough (20 epochs) to be killed between two epochs.
TINY = {
    "data": {"image_size": 48},
    "demo": {"n_per_class": 40, "size": 64},
    "augment": {"factor": 8, "shards": 2},
    "training": {
        "baseline": {"epochs": 20},
        "transfer": {"epochs": 3},
        "finetune": {"epochs": 2},
    },
    "evaluation": {"bootstrap": 100},
}


@pytest.fixture(scope="module")
def cluster():
    status = subprocess.run(["bash", str(CLUSTER), "status"], capture_output=True, text=True)
    if status.returncode != 0:
        message = "no local SLURM cluster: run `bash tests/slurm/cluster.sh start` (root, apt) first"
        if os.environ.get("BUSFLOW_REQUIRE_SLURM"):
            pytest.fail(message + "\n" + status.stdout + status.stderr)
        pytest.skip(message)


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    return write_config(tmp_path_factory.mktemp("cfg") / "tiny.yaml", TINY)


@pytest.fixture(scope="module")
def local_run(tiny_config, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("local")
    snakemake(workdir, "--cores", "2", configfile=tiny_config)
    return workdir


def cluster_overrides() -> list[str]:
    """tests/slurm/profile/config.yaml as command-line options (these replace the profile's maps)."""
    profile = yaml.safe_load((TEST_PROFILE / "config.yaml").read_text())
    args = ["--default-resources", *(f"{k}={v}" for k, v in profile.pop("default-resources").items())]
    args += ["--set-resources", *(f"{rule}:{k}={v}" for rule, res in profile.pop("set-resources").items() for k, v in res.items())]
    args += ["--group-components", *(f"{g}={n}" for g, n in profile.pop("group-components").items())]
    for key, value in profile.items():
        args += [f"--{key}", str(value)]
    return args


def slurm_run(workdir, tiny_config, check=True):
    return snakemake(workdir, "--workflow-profile", str(REPO / "profiles" / "slurm"), *cluster_overrides(),
                     configfile=tiny_config, check=check, timeout=1500)


def accounting_since(started: str) -> pd.DataFrame:
    """sacct records (one row per job allocation) since ``started``."""
    out = subprocess.run(["sacct", "-a", "-X", "-n", "-P", "-S", started,
                          "--format=JobID,Comment,State,AllocTRES,ReqTRES"],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split("|") for line in out.splitlines() if line]
    return pd.DataFrame(rows, columns=["job_id", "comment", "state", "alloc_tres", "req_tres"])


def now_for_sacct() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 1))


def read_history(workdir, model):
    return pd.read_csv(workdir / "results" / "history" / f"{model}.csv")


def read_metrics(workdir, model):
    metrics = json.loads((workdir / "results" / "eval" / model / "metrics.json").read_text())
    return {name: round(m["value"], 6) for name, m in metrics["metrics"].items()}


@pytest.fixture(scope="module")
def slurm_workflow(cluster, tiny_config, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm")
    started = now_for_sacct()
    slurm_run(workdir, tiny_config)
    return workdir, accounting_since(started)


def test_every_gpu_job_went_through_sbatch_with_a_gpu(slurm_workflow):
    _, jobs = slurm_workflow
    for rule in GPU_RULES:
        rows = jobs[jobs["comment"].str.startswith(f"rule_{rule}")]
        assert len(rows) >= 1, f"no SLURM job for {rule}:\n{jobs}"
        assert (rows["state"] == "COMPLETED").all(), rows
        assert rows["alloc_tres"].str.contains("gres/gpu=1").all(), rows


def test_cheap_rules_stay_local_and_shards_are_grouped(slurm_workflow):
    _, jobs = slurm_workflow
    for local_rule in ("build_manifest", "compare_models", "plot_figures", "generate_demo_data"):
        assert not jobs["comment"].str.contains(local_rule).any(), jobs
    # 4 augment_shard jobs (2 train + val + test) in fewer submissions than shards
    augment = jobs[jobs["comment"].str.contains("augment")]
    assert 1 <= len(augment) < 4, jobs


def test_slurm_results_equal_a_local_run(slurm_workflow, local_run):
    workdir, _ = slurm_workflow
    for model in ("baseline", "transfer", "finetune"):
        assert read_metrics(workdir, model) == read_metrics(local_run, model)
        pd.testing.assert_frame_equal(read_history(workdir, model), read_history(local_run, model))


def running_job_of(rule: str) -> str | None:
    queue = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i %k"], capture_output=True, text=True).stdout
    for line in queue.splitlines():
        job_id, _, comment = line.partition(" ")
        if comment.startswith(f"rule_{rule}"):
            return job_id
    return None


def kill_when_checkpointed(workdir: Path, min_epoch: int, killed: list, deadline: float) -> None:
    """SIGKILL train_baseline's process inside its SLURM job once ``min_epoch`` epochs are saved.

    A process killed outright, as the kernel's OOM killer or a failing node does it, is what a
    job must survive. (A plain `scancel` is not used: SLURM reports 'CANCELLED by <uid>', which
    snakemake-executor-plugin-slurm 2.8.0 does not recognise, so Snakemake would wait forever.)
    """
    state = workdir / "results" / "models" / "baseline.checkpoint" / "state.json"
    while time.time() < deadline and not killed:
        try:
            epochs = len(json.loads(state.read_text())["history"])
        except (OSError, ValueError, KeyError):
            epochs = 0
        job_id = running_job_of("train_baseline") if epochs >= min_epoch else None
        if job_id:
            # Only this test's job: its script lives under workdir/.snakemake/scripts. A bare
            # "train_baseline.py" would also kill any other busflow run on the machine.
            folders = "|".join(sorted({re.escape(str(workdir)), re.escape(str(workdir.resolve()))}))
            pattern = rf"({folders})/\.snakemake/scripts/\S*train_baseline\.py"
            pids = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
            for pid in pids:
                os.kill(int(pid), signal.SIGKILL)
            if pids:
                killed.append((job_id, epochs))
                return
        time.sleep(0.1)


def test_killed_training_job_is_resubmitted_and_resumes_to_the_same_end(cluster, tiny_config, local_run, tmp_path):
    started = now_for_sacct()
    killed = []
    watcher = threading.Thread(target=kill_when_checkpointed, args=(tmp_path, 2, killed, time.time() + 900))
    watcher.start()
    try:
        slurm_run(tmp_path, tiny_config)
    finally:
        killed.append(None) if not killed else None
        watcher.join()
    assert killed and killed[0] is not None, "train_baseline finished before it could be killed"
    job_id, _ = killed[0]
    jobs = accounting_since(started)
    baseline = jobs[jobs["comment"].str.startswith("rule_train_baseline")]
    assert baseline.set_index("job_id").loc[job_id, "state"] == "FAILED"
    assert (baseline["state"] == "COMPLETED").sum() == 1
    log = (tmp_path / "results" / "logs" / "train_baseline.log").read_text()
    assert "resuming from checkpoint after epoch" in log
    pd.testing.assert_frame_equal(read_history(tmp_path, "baseline"), read_history(local_run, "baseline"))
    assert read_metrics(tmp_path, "baseline") == read_metrics(local_run, "baseline")
    assert not (tmp_path / "results" / "models" / "baseline.checkpoint").exists()


def test_dry_run_with_the_slurm_profile_lists_gpu_training_jobs(tmp_path):
    result = snakemake(tmp_path, "-n", "--workflow-profile", str(REPO / "profiles" / "slurm"))
    for rule in ("train_baseline", "train_transfer", "train_finetune"):
        block = result.stdout.split(f"rule {rule}:")[1].split("\n\n")[0]
        assert "gpu=1" in block and "cpus_per_gpu=4" in block, block
