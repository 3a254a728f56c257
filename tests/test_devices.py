"""Where a Keras job runs: the device line, the device record, and the
refusal of a GPU job on the CPU."""

import json
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from busflow.runtime import devices
from busflow.runtime import start as runtime
from busflow.runtime.devices import (
    Device,
    WrongDeviceError,
    check_gpu_job,
    device_line,
    gpu_requested,
    job_device,
)

H100 = Device("gpu", "NVIDIA H100 80GB HBM3", 79.1)
CPU = Device("cpu", "Intel(R) Xeon(R) Platinum 8480+", 251.0)
RESOLVED = {
    "precision": "mixed_bfloat16",
    "precision_setting": "auto",
    "jit_compile": "auto",
    "jit_compile_setting": "auto",
}
SLURM_ENV = {"SLURM_JOB_ID": "4711", "CUDA_VISIBLE_DEVICES": "0", "SLURM_JOB_GPUS": "0"}


def record(device=CPU, environ=None, threads=4):
    return job_device(
        "tensorflow", [device], threads, environ if environ is not None else SLURM_ENV
    )


# --------------------------------------------------------------------------- the device line


def test_device_line_names_backend_versions_device_memory_precision_and_jit():
    line = device_line(job_device("jax", [H100], 8, {"CUDA_VISIBLE_DEVICES": "0"}), RESOLVED)
    assert line.startswith("device: jax ")
    assert f"(keras {keras.__version__})" in line
    assert "gpu NVIDIA H100 80GB HBM3, 79.1 GiB" in line
    assert (
        "precision mixed_bfloat16 (setting auto)" in line
        and "jit_compile auto (setting auto)" in line
    )
    assert "8 CPU threads" in line and "CUDA_VISIBLE_DEVICES=0" in line
    assert "SLURM" not in line  # not a SLURM job: nothing to say


def test_device_line_of_a_slurm_job_names_the_job_and_its_gpus():
    line = device_line(record(), RESOLVED)
    assert (
        "SLURM job 4711" in line and "SLURM_JOB_GPUS=0" in line and "cpu Intel(R) Xeon(R)" in line
    )


def test_this_machine_lists_its_cpu_and_no_accelerator():
    listed = devices.list_devices(keras.backend.backend())
    assert [d.kind for d in listed] == ["cpu"] and listed[0].name
    assert not devices.has_accelerator(listed)
    line = device_line(job_device(keras.backend.backend(), listed))
    assert f"device: {keras.backend.backend()} " in line and "cpu " in line


def test_device_record_is_json_and_says_whether_there_is_an_accelerator():
    gpu, cpu = job_device("jax", [H100], 4, {}), job_device("jax", [CPU], 4, {})
    assert json.loads(json.dumps(gpu))["devices"] == [
        {"kind": "gpu", "name": "NVIDIA H100 80GB HBM3", "memory_gib": 79.1}
    ]
    assert gpu["accelerator"] and not cpu["accelerator"]
    assert devices.device_summary(gpu).startswith("jax ") and devices.device_summary(gpu).endswith(
        "on gpu NVIDIA H100 80GB HBM3, 79.1 GiB"
    )


# --------------------------------------------------------------------------- the GPU request


@pytest.mark.parametrize(
    "resources, expected",
    [
        ({"gpu": 1}, "gpu=1"),
        ({"gres": "gpu:1"}, "gres=gpu:1"),
        ({"gpu": 0, "gres": "gpu:a100:1"}, "gres=gpu:a100:1"),  # a gres site's setting
        ({"mem_mb": 8000}, None),
        ({"gpu": 0, "gres": ""}, None),
    ],
)
def test_gpu_request_is_read_from_gpu_or_gres(resources, expected):
    assert gpu_requested(resources) == expected


# --------------------------------------------------------------------------- the refusal


def test_a_slurm_gpu_job_without_a_gpu_is_refused_with_what_it_asked_found_and_the_fix():
    with pytest.raises(WrongDeviceError) as error:
        check_gpu_job("gpu=1", record())
    message = str(error.value)
    assert "gpu=1" in message and "SLURM job 4711" in message  # what it asked for
    assert (
        f"tensorflow {record()['backend_version']}" in message
        and "CUDA_VISIBLE_DEVICES=0" in message
    )  # what it found
    assert "cpu Intel(R) Xeon(R)" in message
    assert (
        ".[gpu]" in message
        and "config/gpu.yaml" in message
        and "training.require_gpu: false" in message
    )  # the fix


def test_the_cpu_stays_allowed_without_slurm():
    check_gpu_job("gpu=1", record(environ={}))


def test_require_gpu_false_allows_the_cpu_under_slurm():
    check_gpu_job("gpu=1", record(), require_gpu=False)


def test_a_job_that_asks_no_gpu_runs_on_the_cpu_under_slurm():
    check_gpu_job(None, record())


def test_a_slurm_gpu_job_with_a_gpu_runs():
    check_gpu_job("gres=gpu:1", record(device=H100))


def fake_job(tmp_path, resources):
    return SimpleNamespace(log=[str(tmp_path / "job.log")], threads=2, resources=resources)


def test_start_job_refuses_a_gpu_job_under_slurm_on_this_cpu_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "99")
    monkeypatch.setattr(runtime, "redirect_output", lambda path: None)  # keep pytest's output
    monkeypatch.setattr(runtime, "limit_threads", lambda threads: None)
    with pytest.raises(WrongDeviceError, match="SLURM job 99"):
        runtime.start_job(fake_job(tmp_path, {"gpu": 1}), keras.backend.backend())
    assert (
        runtime.start_job(
            fake_job(tmp_path, {"gpu": 1}), keras.backend.backend(), require_gpu=False
        )
        >= 1
    )
    runtime.start_job(fake_job(tmp_path, {"mem_mb": 100}), keras.backend.backend())


# --------------------------------------------------------------------------- metrics.json's device


def test_metrics_json_records_where_the_model_was_trained_and_evaluated(tmp_path):
    from busflow.augment.shards import write_shard
    from busflow.jobs.evaluation import evaluate_model_job

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(
        inputs, keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(inputs))
    )
    model.save(tmp_path / "m.keras")
    labels = np.arange(10) % 2
    write_shard(
        tmp_path / "test.npz",
        {
            "images": np.random.default_rng(0).integers(0, 255, (10, 8, 8), dtype=np.uint8),
            "labels": labels,
            "image_ids": np.asarray([f"i{k}" for k in range(10)]),
            "copy_index": np.zeros(10, int),
        },
        {"protocol": "leak_free", "leaky": False},
    )
    trained = job_device("jax", [H100], 4, {"SLURM_JOB_ID": "7"})
    (tmp_path / "m.device.json").write_text(json.dumps(trained))
    out = {"metrics": tmp_path / "metrics.json", "predictions": tmp_path / "p.csv"}
    evaluate_model_job(
        tmp_path / "m.keras",
        [tmp_path / "test.npz"],
        "baseline",
        "none",
        {"seed": 1, "bootstrap": 10, "calibration_bins": 10},
        out,
        training_device=tmp_path / "m.device.json",
    )
    device = json.loads(out["metrics"].read_text())["device"]
    assert device["training"] == devices.device_summary(trained)
    assert "NVIDIA H100" in device["training"] and device["training_record"]["slurm_job_id"] == "7"
    assert (
        device["evaluation"].startswith(f"{keras.backend.backend()} ")
        and " on cpu " in device["evaluation"]
    )


def test_comparison_shows_where_this_runs_models_were_trained():
    import pandas as pd
    from test_comparison import REFERENCES, fake_metrics

    from busflow.report.comparison import comparison_table, to_html, to_markdown

    runs = [
        {**fake_metrics(m), "device": {"training": "jax 0.7.2 on gpu NVIDIA H100"}}
        for m in ("baseline", "transfer")
    ]
    runs.append(
        {**fake_metrics("finetune"), "device": {"training": "tensorflow 2.21.0 on cpu Xeon"}}
    )
    table = comparison_table(runs, pd.read_csv(REFERENCES))
    assert table["trained_on"].tolist()[:3] == ["jax 0.7.2 on gpu NVIDIA H100"] * 2 + [
        "tensorflow 2.21.0 on cpu Xeon"
    ]
    markdown = to_markdown(table)
    assert "- baseline, transfer: jax 0.7.2 on gpu NVIDIA H100" in markdown
    assert "- finetune: tensorflow 2.21.0 on cpu Xeon" in markdown
    assert "Trained on: baseline, transfer: jax 0.7.2 on gpu NVIDIA H100" in to_html(table)
