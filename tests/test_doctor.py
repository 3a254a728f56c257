"""python -m busflow.runtime.doctor: each check, its fix, and the exit code. SLURM's sinfo and
sacctmgr are fake executables on PATH that print what a real cluster would."""

import os
import re
import subprocess
import sys

import pytest
import yaml

from busflow.runtime import doctor
from busflow.runtime.devices import Device, job_device

REPO = doctor.REPO
SINFO_GPU = "main* (null)\ngpu gpu:a100:4\n"


def fake_slurm(folder, sinfo=SINFO_GPU, accounts="busflow\nother\n", min_job_age=300):
    """sinfo, sacctmgr and scontrol that print ``sinfo``, ``accounts`` and a config with
    ``min_job_age``; returns the folder to put on PATH."""
    folder.mkdir(exist_ok=True)
    config = f"MaxJobCount             = 10000\nMinJobAge               = {min_job_age} sec\n"
    for name, text in (("sinfo", sinfo), ("sacctmgr", accounts), ("scontrol", config)):
        tool = folder / name
        tool.write_text(f"#!/bin/sh\ncat <<'EOF'\n{text}EOF\n")
        tool.chmod(0o755)
    return folder


@pytest.fixture
def cluster_path(tmp_path, monkeypatch):
    """PATH with the fake SLURM commands first (only them: the real ones of a test cluster hide)."""
    bin_dir = fake_slurm(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


@pytest.fixture
def gpu_backend(monkeypatch):
    """The backend probe as on a GPU node, with the CUDA build installed."""
    monkeypatch.setattr(
        doctor,
        "probe_backend",
        lambda backend: job_device(backend, [Device("gpu", "NVIDIA A100", 39.4)], environ={}),
    )
    monkeypatch.setattr(doctor, "version", lambda package: "1.0")
    monkeypatch.setattr(doctor, "smoke_fit_record", lambda backend: GPU_SMOKE_FIT)


# What busflow.runtime.smoke_fit printed on a GPU node: the loss went down, the predictions differ.
GPU_SMOKE_FIT = {
    "first_loss": 0.70,
    "last_loss": 0.05,
    "epochs": 200,
    "compile_seconds": 3.0,
    "seconds": 0.8,
    "prediction_std": 0.45,
    "learned": True,
}


def write_yaml(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def good_setup(tmp_path, demo_raw, vgg16_weights_file):
    """A config on real data with a weights file, and a site profile
    with a GPU partition and account."""
    config = write_yaml(
        tmp_path / "mine.yaml",
        {
            "data": {"raw": str(demo_raw)},
            "demo": {"generate": False},
            "vgg16_weights": str(vgg16_weights_file),
        },
    )
    site = tmp_path / "site"
    write_yaml(
        site / "config.yaml",
        {
            "default-resources": {"slurm_account": "busflow", "slurm_partition": "main"},
            "set-resources": {rule: {"slurm_partition": "gpu"} for rule in doctor.GPU_RULES},
        },
    )
    return ["--configfile", str(config), "--profile", str(site), "--directory", str(tmp_path)]


def run_doctor(args, capsys) -> tuple[int, str]:
    code = doctor.main(args)
    return code, capsys.readouterr().out


def line_of(output: str, check: str) -> str:
    """A check's line and, when it failed, its fix line."""
    lines = output.splitlines()
    i = next(i for i, line in enumerate(lines) if line[5:].startswith(f"{check}:"))
    return "\n".join(lines[i : i + 2])


def test_a_ready_setup_passes_every_check_and_exits_0(
    good_setup, cluster_path, gpu_backend, capsys
):
    code, out = run_doctor(good_setup, capsys)
    assert code == 0, out
    assert "no problems found" in out
    assert (
        line_of(out, "backend").startswith("ok   backend: tensorflow ")
        and "sees gpu NVIDIA A100, 39.4 GiB" in out
    )
    assert "vgg16_notop.h5" in line_of(
        out, "weights"
    ) and "24 images in benign, malignant" in line_of(out, "data")
    assert "gpu (gpu:a100:4)" in line_of(out, "GPU partitions") and "go to gpu" in line_of(
        out, "GPU partitions"
    )
    assert "slurm_account busflow (from" in line_of(out, "account")


def test_missing_data_folder_fails_with_the_key_and_the_fix(
    good_setup, cluster_path, gpu_backend, tmp_path, capsys
):
    config = write_yaml(tmp_path / "nodata.yaml", {"data": {"raw": str(tmp_path / "nowhere")}})
    code, out = run_doctor([*good_setup, "--configfile", good_setup[1], str(config)], capsys)
    assert code == 1
    assert line_of(out, "data").startswith("FAIL data: data.raw:") and "nowhere" in line_of(
        out, "data"
    )
    assert "fix: set data.raw in your config" in line_of(out, "data")


def test_missing_imagenet_weights_fail_with_the_login_node_fix(
    good_setup, cluster_path, gpu_backend, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_keras_home"))
    config = write_yaml(tmp_path / "imagenet.yaml", {"vgg16_weights": "imagenet"})
    code, out = run_doctor([*good_setup, "--configfile", good_setup[1], str(config)], capsys)
    assert code == 1
    assert "is missing" in line_of(out, "weights") and "fetch_vgg16_weights" in line_of(
        out, "weights"
    )


def test_gpu_jobs_sent_to_a_partition_without_gpus_fail(
    good_setup, tmp_path, gpu_backend, monkeypatch, capsys
):
    bin_dir = fake_slurm(tmp_path / "cpu_only", sinfo="main* (null)\ngpu gpu:a100:4\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    site = tmp_path / "site"
    write_yaml(
        site / "config.yaml",
        {"default-resources": {"slurm_account": "busflow", "slurm_partition": "main"}},
    )
    code, out = run_doctor(good_setup, capsys)
    assert code == 1
    assert "would go to main, which has no GPUs" in line_of(out, "GPU partitions")
    assert "fix: set slurm_partition of the GPU rules" in line_of(
        out, "GPU partitions"
    ) and "gpu" in line_of(out, "GPU partitions")


def test_a_cluster_without_gpu_partitions_fails(
    good_setup, tmp_path, gpu_backend, monkeypatch, capsys
):
    bin_dir = fake_slurm(tmp_path / "nogpu", sinfo="main* (null)\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code, out = run_doctor(good_setup, capsys)
    assert code == 1 and "lists no partition with GPUs" in line_of(out, "GPU partitions")


def test_an_account_the_user_does_not_have_fails_naming_the_profile(
    good_setup, tmp_path, gpu_backend, monkeypatch, capsys
):
    bin_dir = fake_slurm(tmp_path / "acc", accounts="lab_a\nlab_b\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code, out = run_doctor(good_setup, capsys)
    assert code == 1
    check = line_of(out, "account")
    assert (
        "slurm_account busflow" in check
        and "lab_a, lab_b" in check
        and str(tmp_path / "site" / "config.yaml") in check
    )


def test_no_cuda_build_with_require_gpu_fails_and_require_gpu_false_passes(
    good_setup, cluster_path, monkeypatch, tmp_path, capsys
):
    monkeypatch.setattr(
        doctor,
        "probe_backend",
        lambda backend: job_device(backend, [Device("cpu", "Xeon")], environ={}),
    )
    monkeypatch.setattr(
        doctor,
        "version",
        lambda package: None if "cuda" in package or "nvidia" in package else "1.0",
    )
    code, out = run_doctor(good_setup, capsys)
    assert code == 1
    assert "has no CUDA libraries" in line_of(
        out, "GPU build"
    ) and "pip install -e '.[gpu-tf]'" in line_of(out, "GPU build")
    allow_cpu = write_yaml(tmp_path / "cpu.yaml", {"training": {"require_gpu": False}})
    code, out = run_doctor([*good_setup, "--configfile", good_setup[1], str(allow_cpu)], capsys)
    assert code == 0, out


def test_without_sinfo_the_slurm_checks_are_skipped(good_setup, gpu_backend, monkeypatch, capsys):
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    code, out = run_doctor(good_setup, capsys)
    assert code == 0, out
    assert line_of(out, "GPU partitions").startswith("skip") and line_of(out, "account").startswith(
        "skip"
    )


def test_a_config_that_breaks_the_schema_fails_first(tmp_path, capsys):
    bad = write_yaml(tmp_path / "bad.yaml", {"training": {"require_gpu": "maybe"}})
    code, out = run_doctor(["--configfile", str(bad)], capsys)
    assert code == 1 and out.startswith("FAIL config:") and "require_gpu" in out


def test_the_command_line_probes_the_real_backend(tmp_path):
    """End to end, as a user runs it (this machine: CPU, no sinfo needed)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "busflow.runtime.doctor", "--directory", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode in (0, 1)
    assert "ok   backend: tensorflow" in result.stdout and "sees cpu" in result.stdout, (
        result.stdout + result.stderr
    )
    assert ("FAIL" in result.stdout) == (result.returncode == 1)
    assert re.search(
        r"ok   smoke fit: tensorflow: loss 0\.\d+ -> 0\.\d+ in \d+ epochs", result.stdout
    )


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_smoke_fit_trains_on_every_other_backend(backend):
    record = doctor.smoke_fit_record(backend)
    assert record["backend"] == backend and record["learned"], record
    assert record["last_loss"] < 0.8 * record["first_loss"] and record["prediction_std"] > 0.05


def test_a_backend_that_does_not_train_fails_the_smoke_fit(
    good_setup, cluster_path, gpu_backend, monkeypatch, capsys
):
    stuck = {**GPU_SMOKE_FIT, "last_loss": 0.693, "prediction_std": 0.0, "learned": False}
    monkeypatch.setattr(doctor, "smoke_fit_record", lambda backend: stuck)
    code, out = run_doctor(good_setup, capsys)
    assert code == 1
    assert "FAIL smoke fit: tensorflow: loss 0.700 -> 0.693" in out
    assert "does not train here" in line_of(out, "smoke fit")


def test_the_scancel_line_says_whether_squeue_is_safe(
    good_setup, tmp_path, gpu_backend, monkeypatch, capsys
):
    for age, expected in (
        (300, "MinJobAge 300 s: slurm-status-command squeue is safe here"),
        (60, "MinJobAge 60 s is too short"),
    ):
        bin_dir = fake_slurm(tmp_path / f"age{age}", min_job_age=age)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        code, out = run_doctor(good_setup, capsys)
        assert code == 0 and expected in line_of(out, "scancel"), out


def test_the_smoke_fit_runs_its_minimum_epochs_however_slow_the_node():
    """A loaded login node once fitted 9 epochs in the time budget and failed a backend that
    trains; the budget now only adds epochs beyond the minimum."""
    from busflow.runtime.smoke_fit import smoke_fit

    result = smoke_fit(seconds=0.0, min_epochs=4, max_epochs=100)
    assert result["epochs"] == 4


def test_help_lists_the_options_the_output_every_check_and_the_exit_codes():
    """As a user runs it; every check name the code can print is explained."""
    result = subprocess.run(
        [sys.executable, "-m", "busflow.runtime.doctor", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert result.returncode == 0
    shown = result.stdout
    source = (REPO / "busflow/runtime/doctor.py").read_text()
    names = set(re.findall(r'\b(?:ok|fail|skip)\(\s*"([^"]+)"', source))
    assert len(names) >= 10
    for name in names:
        assert re.search(rf"^  {re.escape(name)}  ", shown, re.M), name
    words = " ".join(shown.split())
    for text in (
        "--configfile",
        "--profile",
        "--directory",
        "status ok, FAIL, or skip",
        '"fix: <what to do>"',
        "FAIL config",
        "Exit codes: 0 no check failed",
        "1 a check failed",
        "2 a wrong option",
    ):
        assert text in words, text


def test_a_profile_mem_mb_below_a_jobs_estimated_peak_fails_before_submission(
    good_setup, cluster_path, gpu_backend, tmp_path, capsys
):
    """A site profile that caps the fine-tuning job's memory below its measured-peak estimate is
    reported with the rule, both numbers and where to change it."""
    site = tmp_path / "site"
    profile = yaml.safe_load((site / "config.yaml").read_text())
    profile["set-resources"]["train_finetune"]["mem_mb"] = 1000
    write_yaml(site / "config.yaml", profile)
    code, out = run_doctor(good_setup, capsys)
    assert code == 1
    line = line_of(out, "job memory")
    assert "train_finetune asks for 1000 MB, its estimated peak is" in line
    assert "raise mem_mb of these rules in" in line and str(site) in line
