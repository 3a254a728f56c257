"""The workflow on a real one-node SLURM cluster (tests/slurm/cluster.sh): a GPU job that finds no
GPU stops (the fake GPU is /dev/null) and keeps what finished, the same run with
training.require_gpu: false submits through sbatch with a GPU request and gives results equal to
a local run, and a training job requeued mid-run (pre-emption) and then killed resumes each
time to the same end.
Without the cluster: a site profile composes with profiles/slurm, and the gres setting."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from busflow.models.registry import model_names
from busflow.runtime.memory import rule_mem_mb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workflow_helpers import REPO, snakemake, tiny_demo_config, write_config  # noqa: E402

pytestmark = pytest.mark.slurm
CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
TEST_PROFILE = REPO / "tests" / "slurm" / "profile"
GPU_RULES = ("extract_vgg16_features", *(f"train_{model}" for model in model_names()))


@pytest.fixture(scope="module")
def cluster():
    status = subprocess.run(["bash", str(CLUSTER), "status"], capture_output=True, text=True)
    if status.returncode != 0:
        message = (
            "no local SLURM cluster: run `bash tests/slurm/cluster.sh start` (root, apt) first"
        )
        if os.environ.get("BUSFLOW_REQUIRE_SLURM"):
            pytest.fail(message + "\n" + status.stdout + status.stderr)
        pytest.skip(message)


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    """The tiny demo of tests/conftest.py's tiny_run, so that its local run is the reference."""
    return write_config(tmp_path_factory.mktemp("cfg") / "tiny.yaml", tiny_demo_config())


@pytest.fixture(scope="module")
def cpu_allowed(tmp_path_factory):
    """The overlay that lets the GPU jobs train on the test cluster's CPU (its GPU is fake)."""
    return write_config(
        tmp_path_factory.mktemp("cfg") / "cpu_allowed.yaml", {"training": {"require_gpu": False}}
    )


@pytest.fixture(scope="module")
def local_run(tiny_run):
    """The same tiny demo run locally (shared with the other test files that use it)."""
    return tiny_run("tensorflow")


def cluster_overrides() -> list[str]:
    """tests/slurm/profile/config.yaml as command-line options
    (these replace the profile's maps)."""
    profile = yaml.safe_load((TEST_PROFILE / "config.yaml").read_text())
    for model in model_names():  # the node has 22 GB and 2 CPUs
        profile["set-resources"][f"train_{model}"] = {"mem_mb": 3000}
        profile["set-threads"][f"train_{model}"] = 2
    args = [
        "--default-resources",
        *(f"{k}={v}" for k, v in profile.pop("default-resources").items()),
    ]
    args += [
        "--set-resources",
        *(
            f"{rule}:{k}={v}"
            for rule, res in profile.pop("set-resources").items()
            for k, v in res.items()
        ),
    ]
    args += ["--set-threads", *(f"{rule}={n}" for rule, n in profile.pop("set-threads").items())]
    args += [
        "--group-components",
        *(f"{g}={n}" for g, n in profile.pop("group-components").items()),
    ]
    for key, value in profile.items():
        args += [f"--{key}", str(value)]
    return args


def slurm_run(workdir, *configfiles, check=True, options=(), targets=()):
    return snakemake(
        workdir,
        *targets,
        "--workflow-profile",
        str(REPO / "profiles" / "slurm"),
        *cluster_overrides(),
        *options,
        "--configfile",
        *map(str, configfiles),
        check=check,
        timeout=1500,
    )


def accounting_since(started: str) -> pd.DataFrame:
    """sacct records (one row per job allocation) since ``started``."""
    out = subprocess.run(
        [
            "sacct",
            "-a",
            "-X",
            "-n",
            "-P",
            "-S",
            started,
            "--format=JobID,Comment,State,AllocTRES,ReqTRES",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
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
def refused_then_allowed(cluster, tiny_config, cpu_allowed, tmp_path_factory):
    """One run directory, twice: with the default training.require_gpu the first GPU job finds no
    GPU and the run stops (retries off: the error would only repeat); then the same run with
    require_gpu: false finishes from what the first one left. Accounting of each attempt.
    The first run targets the baseline and the test shards only: one GPU job, not the three
    feature jobs as well, which Snakemake would let fail one after another on the one GPU."""
    workdir = tmp_path_factory.mktemp("slurm")
    started = now_for_sacct()
    refused = slurm_run(
        workdir,
        tiny_config,
        check=False,
        options=["--retries", "0"],
        targets=["results/models/baseline.keras", "results/shards/test/0.npz"],
    )
    refused_jobs = accounting_since(started)
    outputs_after_refusal = sorted(
        str(p.relative_to(workdir)) for p in (workdir / "results").rglob("*") if p.is_file()
    )
    started = now_for_sacct()
    slurm_run(workdir, tiny_config, cpu_allowed)
    return {
        "workdir": workdir,
        "refused": refused,
        "refused_jobs": refused_jobs,
        "outputs_after_refusal": outputs_after_refusal,
        "jobs": accounting_since(started),
    }


@pytest.fixture(scope="module")
def slurm_workflow(refused_then_allowed):
    return refused_then_allowed["workdir"], refused_then_allowed["jobs"]


def test_a_gpu_job_that_finds_no_gpu_stops_the_run_with_the_fix(refused_then_allowed):
    run = refused_then_allowed
    assert run["refused"].returncode != 0
    jobs = run["refused_jobs"]
    gpu_jobs = jobs[jobs["comment"].str.contains("|".join(GPU_RULES))]
    assert len(gpu_jobs) >= 1 and (gpu_jobs["state"] == "FAILED").all(), jobs
    assert not any("models" in path for path in run["outputs_after_refusal"]), run[
        "outputs_after_refusal"
    ]


def test_the_refusal_says_what_was_asked_what_was_found_and_the_fix(refused_then_allowed):
    # The GPU job logs of the refused attempt are overwritten by the second run: read the
    # message where Snakemake showed it (show-failed-logs) in the first run's output.
    output = refused_then_allowed["refused"].stdout + refused_then_allowed["refused"].stderr
    assert "WrongDeviceError" in output, output[-3000:]
    message = output[output.index("This job asked SLURM for a GPU") :][:1500]
    assert "gpu=1" in message and "SLURM job" in message
    assert "lists no GPU or TPU, only: cpu" in message and "tensorflow" in message
    assert "training.require_gpu: false" in message and ".[gpu]" in message


def test_the_refused_run_keeps_what_finished_and_the_next_run_reuses_it(refused_then_allowed):
    kept = refused_then_allowed["outputs_after_refusal"]
    for path in (
        "results/manifest.csv",
        "results/split.csv",
        "results/shards/train/0.npz",
        "results/shards/test/0.npz",
    ):
        assert path in kept, kept
    jobs = refused_then_allowed["jobs"]
    assert not jobs["comment"].str.contains("augment").any(), jobs  # shards were not made again


def test_every_gpu_job_went_through_sbatch_with_a_gpu(slurm_workflow):
    _, jobs = slurm_workflow
    for rule in GPU_RULES:
        rows = jobs[jobs["comment"].str.startswith(f"rule_{rule}")]
        assert len(rows) >= 1, f"no SLURM job for {rule}:\n{jobs}"
        assert (rows["state"] == "COMPLETED").all(), rows
        assert rows["alloc_tres"].str.contains("gres/gpu=1").all(), rows


def test_every_gpu_job_log_starts_with_the_device_line(slurm_workflow):
    workdir, _ = slurm_workflow
    logs = [workdir / "results" / "logs" / f"{rule}.log" for rule in GPU_RULES[1:]]
    logs += [
        *(workdir / "results" / "logs" / "extract_vgg16_features").glob("*.log"),
        *(workdir / "results" / "logs" / "evaluate_model").glob("*.log"),
    ]
    assert len(logs) == 2 * len(model_names()) + 2
    for log in logs:
        first = log.read_text().splitlines()[0]
        assert (
            first.startswith("device: tensorflow ")
            and " on cpu " in first
            and "SLURM job " in first
        ), (log, first)
        assert "precision float32" in first and "2 CPU threads" in first, (log, first)
    metrics = json.loads((workdir / "results" / "eval" / "baseline" / "metrics.json").read_text())
    assert (
        " on cpu " in metrics["device"]["training"]
        and metrics["device"]["training_record"]["slurm_job_id"]
    )
    assert (
        f"{', '.join(model_names())}: tensorflow"
        in (workdir / "results" / "comparison.md").read_text()
    )


def test_cheap_rules_stay_local_and_shards_are_grouped(refused_then_allowed):
    jobs = pd.concat([refused_then_allowed["refused_jobs"], refused_then_allowed["jobs"]])
    for local_rule in ("build_manifest", "compare_models", "plot_figures", "generate_demo_data"):
        assert not jobs["comment"].str.contains(local_rule).any(), jobs
    # 3 augment_shard jobs (train + val + test) in fewer submissions than shards
    augment = jobs[jobs["comment"].str.contains("augment")]
    assert 1 <= len(augment) < 3, jobs


def test_slurm_results_equal_a_local_run(slurm_workflow, local_run):
    workdir, _ = slurm_workflow
    for model in model_names():
        assert read_metrics(workdir, model) == read_metrics(local_run, model)
        pd.testing.assert_frame_equal(read_history(workdir, model), read_history(local_run, model))


def running_job_of(rule: str) -> str | None:
    queue = subprocess.run(
        ["squeue", "-h", "-t", "RUNNING", "-o", "%i %k"], capture_output=True, text=True
    ).stdout
    for line in queue.splitlines():
        job_id, _, comment = line.partition(" ")
        if comment.startswith(f"rule_{rule}"):
            return job_id
    return None


def job_state(job_id: str) -> str:
    return subprocess.run(
        ["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True
    ).stdout.strip()


def slurm_job_of_process(pid: str) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"SLURM_JOB_ID="):
            return entry.split(b"=", 1)[1].decode()
    return None


def checkpointed_epochs(workdir: Path) -> int:
    state = workdir / "results" / "models" / "baseline.checkpoint" / "state.json"
    try:
        return len(json.loads(state.read_text())["history"])
    except (OSError, ValueError, KeyError):
        return 0


def baseline_log(workdir: Path) -> str:
    """train_baseline's log: Snakemake starts it afresh for each run of the job."""
    log = workdir / "results" / "logs" / "train_baseline.log"
    return log.read_text() if log.is_file() else ""


def resumed_epochs(log: str) -> list[int]:
    """The epoch after which the training in ``log`` picked up from its checkpoint."""
    return [int(n) for n in re.findall(r"resuming from checkpoint after epoch (\d+) of", log)]


def training_pids(workdir: Path, job_id: str) -> list[str]:
    """train_model.py processes of this run's SLURM job ``job_id``: the script lives under
    workdir/.snakemake/scripts, and every model's job runs it, so the job id picks the one."""
    folders = "|".join(sorted({re.escape(str(workdir)), re.escape(str(workdir.resolve()))}))
    pattern = rf"({folders})/\.snakemake/scripts/\S*train_model\.py"
    candidates = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [pid for pid in candidates.stdout.split() if slurm_job_of_process(pid) == job_id]


def wait_until(condition, deadline: float, interval: float = 0.1):
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(getattr(condition, "__doc__", None) or "condition")


def requeue(job_id: str) -> None:
    """`scontrol requeue`, as pre-emption with PreemptMode=REQUEUE does it; then lift the hold
    of about 2 minutes (Reason BeginTime) that SLURM 22.05 puts on a requeued job, which only
    makes the test wait."""
    subprocess.run(["scontrol", "requeue", job_id], check=True, capture_output=True)
    wait_until(lambda: job_state(job_id) == "PENDING", time.time() + 60)
    subprocess.run(
        ["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True, capture_output=True
    )


def requeue_then_kill(workdir: Path, events: list, deadline: float) -> None:
    """Pre-empt train_baseline's SLURM job once 2 epochs are checkpointed (requeued: the same job
    runs again); once that run has resumed and checkpointed another epoch, SIGKILL its process,
    as the kernel's OOM killer or a failing node does it (the job fails; Snakemake retries it).
    (A plain `scancel` is not used: SLURM reports 'CANCELLED by <uid>', which
    snakemake-executor-plugin-slurm 2.8.0 does not recognise, so Snakemake would wait forever.)
    ``events``: ("requeued" | "killed", job id, epochs checkpointed then, and for "killed" the
    requeued run's log), or ("error", text)."""
    try:

        def checkpointed_and_running():
            """train_baseline running with 2 epochs checkpointed"""
            return checkpointed_epochs(workdir) >= 2 and running_job_of("train_baseline")

        job_id = wait_until(checkpointed_and_running, deadline)
        events.append(("requeued", job_id, checkpointed_epochs(workdir)))
        requeue(job_id)

        def resumed_and_trained_on():
            """the requeued job resumed and checkpointed one more epoch"""
            resumed = resumed_epochs(baseline_log(workdir))
            progressed = resumed and checkpointed_epochs(workdir) > resumed[-1]
            return progressed and training_pids(workdir, job_id)

        pids = wait_until(resumed_and_trained_on, deadline)
        events.append(("killed", job_id, checkpointed_epochs(workdir), baseline_log(workdir)))
        for pid in pids:
            os.kill(int(pid), signal.SIGKILL)
    except Exception as error:  # reported by the test, not lost in this thread
        events.append(("error", repr(error)))


def states_of(job_id: str) -> list[str]:
    """Every run of SLURM job ``job_id`` in order (sacct -D: a requeued run keeps its record)."""
    out = subprocess.run(
        ["sacct", "-D", "-X", "-n", "-P", "-j", job_id, "--format=State"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def test_a_requeued_then_killed_training_job_resumes_each_time_to_the_same_end(
    slurm_workflow, tiny_config, cpu_allowed, local_run, tmp_path
):
    """Pre-emption (SLURM requeues the job: same id, same attempt) and a kill (the job fails and
    Snakemake re-submits it) in one run of the baseline: each run resumes from the checkpoint,
    and the model is the one an uninterrupted run gives."""
    # A copy of the finished SLURM run in which only the baseline trains again, and is scored.
    # (--forcerun: a deleted model alone would not re-run, its evaluation being up to date.)
    run = tmp_path / "run"
    shutil.copytree(slurm_workflow[0], run, symlinks=True)
    started = now_for_sacct()
    events = []
    watcher = threading.Thread(target=requeue_then_kill, args=(run, events, time.time() + 900))
    watcher.start()
    try:
        slurm_run(
            run,
            tiny_config,
            cpu_allowed,
            options=["--forcerun", "train_baseline"],
            targets=["results/eval/baseline/metrics.json"],
        )
    finally:
        watcher.join()
    assert [event[0] for event in events] == ["requeued", "killed"], events
    (_, job_id, requeued_at), (_, _, killed_at, requeued_log) = events
    # The requeued job ran again under its id (only because sbatch had --requeue: the test
    # cluster has JobRequeue=0), then failed when killed; the retry is a new job that completes.
    assert states_of(job_id) == ["REQUEUED", "FAILED"], states_of(job_id)
    jobs = accounting_since(started)
    baseline = jobs[jobs["comment"].str.startswith("rule_train_baseline")]
    assert (baseline["state"] == "COMPLETED").sum() == 1, baseline
    # The requeued run (its log, read before the kill) resumed; so did the retry (the log now).
    assert re.search(rf"SLURM job {job_id}\b", requeued_log), requeued_log[-3000:]
    resumed = resumed_epochs(requeued_log), resumed_epochs(baseline_log(run))
    assert len(resumed[0]) == len(resumed[1]) == 1, resumed
    (after_requeue,), (after_kill,) = resumed
    assert requeued_at <= after_requeue < after_kill and killed_at <= after_kill < 20, resumed
    pd.testing.assert_frame_equal(
        read_history(run, "baseline"), read_history(local_run, "baseline")
    )
    assert read_metrics(run, "baseline") == read_metrics(local_run, "baseline")
    assert not (run / "results" / "models" / "baseline.checkpoint").exists()


def job_block(dry_run_output: str, rule: str) -> str:
    return dry_run_output.split(f"rule {rule}:")[1].split("\n\n")[0]


def test_dry_run_with_the_slurm_profile_lists_gpu_training_jobs_with_their_own_resources(tmp_path):
    result = snakemake(tmp_path, "-n", "--workflow-profile", str(REPO / "profiles" / "slurm"))
    for rule in (f"train_{model}" for model in model_names()):
        block = job_block(result.stdout, rule)
        assert re.search(r"resources: .*\bgpu=1\b", block) and re.search(r"\bmem_mb=\d+", block), (
            block
        )
        assert re.search(r"\bruntime=\d+", block) and "cpus_per_gpu" not in block, block


SITE_PROFILE = REPO / "profiles" / "site-example"


def test_a_site_profile_keeps_its_account_and_partition_under_the_workflow_profile(tmp_path):
    """--profile SITE (account and partition in default-resources, a GPU partition in
    set-resources) with --workflow-profile profiles/slurm: the site's values reach every job."""
    result = snakemake(
        tmp_path,
        "-n",
        "--profile",
        str(SITE_PROFILE),
        "--workflow-profile",
        str(REPO / "profiles" / "slurm"),
    )
    for rule in GPU_RULES:
        block = job_block(result.stdout, rule)
        assert (
            "slurm_account=my_account" in block
            and "slurm_partition=gpu" in block
            and "gpu=1" in block
        ), block
    for rule in ("augment_shard", "evaluate_model"):
        block = job_block(result.stdout, rule)
        assert "slurm_account=my_account" in block and "slurm_partition=cpu" in block, block


FAKE_SBATCH = """#!/bin/sh
echo "$*" >> "{calls}"
echo "sbatch: error: fake sbatch of the test, nothing submitted" >&2
exit 1
"""


def sbatch_call(tmp_path, monkeypatch, site_profile: dict) -> str:
    """The sbatch command line the SLURM plugin builds for extract_vgg16_features (test split)
    under ``site_profile`` + profiles/slurm. A fake sbatch on PATH records it and refuses the job;
    the other SLURM commands the plugin calls print nothing (no cluster needed)."""
    bin_dir, profile, run = tmp_path / "bin", tmp_path / "site", tmp_path / "run"
    for folder in (bin_dir, profile, run / "results" / "shards" / "test"):
        folder.mkdir(parents=True)
    calls = tmp_path / "sbatch_calls.txt"
    (bin_dir / "sbatch").write_text(FAKE_SBATCH.format(calls=calls))
    for command in ("sacct", "sacctmgr", "scancel", "scontrol", "sinfo", "squeue", "sshare"):
        (bin_dir / command).write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    (profile / "config.yaml").write_text(yaml.safe_dump(site_profile))
    (run / "results" / "shards" / "test" / "0.npz").touch()  # the job's input: only it is submitted
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = snakemake(
        run,
        "--profile",
        str(profile),
        "--workflow-profile",
        str(REPO / "profiles" / "slurm"),
        "--allowed-rules",
        "extract_vgg16_features",
        "--retries",
        "0",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "results/features/test.npz",
        check=False,
        timeout=300,
    )
    assert calls.is_file(), result.stdout[-2000:] + result.stderr[-3000:]
    return calls.read_text().splitlines()[0]


SITE = {
    "default-resources": {"slurm_account": "site_acc", "slurm_partition": "cpu"},
    "set-resources": {"extract_vgg16_features": {"slurm_partition": "gpu"}},
}


def test_gpu_jobs_ask_gpus_and_as_many_cpus_as_their_threads_with_the_sites_account(
    tmp_path, monkeypatch
):
    call = sbatch_call(tmp_path, monkeypatch, SITE)
    assert " --gpus=1" in call and "--gres" not in call, call
    assert "-A site_acc" in call and "-p gpu" in call, call
    assert "--cpus-per-task=4" in call and "--cpus-per-gpu" not in call, call
    # memory from the measured peaks (busflow.runtime.memory) under the job's own config
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    asked = rule_mem_mb("extract_vgg16_features", config, attempt=1)
    assert f"--mem {asked}" in call and "-t 60" in call, (asked, call)
    # profiles/slurm's slurm-requeue: pre-emption requeues the job (JobRequeue=0 sites too)
    assert " --requeue" in call and "--no-requeue" not in call, call


def test_the_gres_setting_emits_only_gres(tmp_path, monkeypatch):
    """The README's setting for sites that need --gres: gpu 0 and gres per GPU rule."""
    site = {
        **SITE,
        "set-resources": {
            "extract_vgg16_features": {"slurm_partition": "gpu", "gpu": 0, "gres": "gpu:1"}
        },
    }
    call = sbatch_call(tmp_path, monkeypatch, site)
    assert " --gres=gpu:1" in call and "--gpus" not in call, call
    assert "-A site_acc" in call and "-p gpu" in call and "--cpus-per-task=4" in call, call


SLEEPY_SNAKEFILE = """rule sleepy:
    output:
        "done.txt",
    resources:
        mem_mb=100,
        runtime=5,
    shell:
        "sleep 300; touch {output}"
"""


def test_a_job_cancelled_with_scancel_fails_under_the_squeue_status_command(cluster, tmp_path):
    """The README's remedy for plugin 2.8.0, which takes sacct's 'CANCELLED by <uid>' for a running
    job: with --slurm-status-command squeue (state 'CANCELLED') Snakemake sees the failure. A
    one-rule workflow, not busflow's: only the plugin's reading of the state is under test."""
    (tmp_path / "Snakefile").write_text(SLEEPY_SNAKEFILE)
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        "Snakefile",
        "--executor",
        "slurm",
        "--slurm-status-command",
        "squeue",
        "--default-resources",
        "slurm_account=busflow",
        "slurm_partition=main",
        "--jobs",
        "1",
        "--retries",
        "0",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--seconds-between-status-checks",
        "1",
    ]
    run = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline, job_id = time.time() + 120, None
        while job_id is None and time.time() < deadline and run.poll() is None:
            job_id = running_job_of("sleepy")
            time.sleep(0.5)
        assert job_id, "the job never started"
        subprocess.run(["scancel", job_id], check=True)
        cancelled = time.time()
        output, _ = run.communicate(timeout=90)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode != 0
    assert f"SLURM-job '{job_id}' failed, SLURM status is: 'CANCELLED'" in output, output[-2000:]
    assert time.time() - cancelled < 60


def test_doctor_on_the_test_cluster_finds_its_gpu_partition_and_account(
    cluster, tiny_config, cpu_allowed, tmp_path
):
    """The preflight against the real sinfo/sacctmgr/scontrol, with
    the test profile as site profile."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "busflow.runtime.doctor",
            "--configfile",
            str(tiny_config),
            str(cpu_allowed),
            "--profile",
            str(TEST_PROFILE),
            "--directory",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "ok   GPU partitions: main (gpu:" in result.stdout
        and "the GPU jobs go to main" in result.stdout
    )
    assert (
        "ok   account: slurm_account busflow" in result.stdout
        and "ok   scancel: MinJobAge 600 s" in result.stdout
    )
