"""busflow.runtime.memory: the rules' mem_mb from measured peaks, growing with batch, image size
and attempt, never with the number of images or copies."""

import copy

import pytest

from busflow.models.registry import model_names
from busflow.runtime import memory


@pytest.fixture
def config(cfg):
    config = copy.deepcopy(cfg)
    config["data"]["image_size"] = 224
    return config


def test_estimate_grows_with_batch_and_pixels_not_with_copies(config):
    peak = memory.estimated_peak_mb("train_finetune", config, "finetune")
    config["augment"]["factor"] *= 6
    assert memory.estimated_peak_mb("train_finetune", config, "finetune") == peak
    config["training"]["finetune"]["batch_size"] *= 2
    bigger_batch = memory.estimated_peak_mb("train_finetune", config, "finetune")
    config["data"]["image_size"] = 448
    assert peak < bigger_batch < memory.estimated_peak_mb("train_finetune", config, "finetune")


def test_rule_mem_mb_has_headroom_rounds_up_and_grows_with_attempt(config):
    first = memory.rule_mem_mb("extract_vgg16_features", config, 1)
    peak = memory.estimated_peak_mb("extract_vgg16_features", config)
    assert first >= (peak + memory.GPU_RUNTIME_MB) * memory.HEADROOM
    assert first % memory.ROUND_MB == 0
    evaluation = memory.rule_mem_mb("evaluate", config, 1)
    assert evaluation >= memory.estimated_peak_mb("evaluate", config) * memory.HEADROOM
    assert memory.rule_mem_mb("extract_vgg16_features", config, 3) == 3 * first


def test_every_planned_job_has_a_measured_entry(config):
    jobs = memory.planned_jobs(config, model_names())
    assert {job for _, job, _ in jobs} <= set(memory.JOB_MEMORY)
    assert [job for _, job, _ in jobs if job.startswith("train_")] == [
        f"train_{model}" for model in model_names()
    ]
    assert memory.memory_shortfalls(config, ["finetune"], lambda rule: None) == []
    short = memory.memory_shortfalls(config, ["finetune"], lambda rule: 100)
    assert len(short) == len(memory.planned_jobs(config, ["finetune"]))


def test_the_benchmark_reads_each_jobs_peak_from_snakemake_benchmark_files(tmp_path):
    from busflow.runtime.memory_bench import peaks

    benchmarks = tmp_path / "results" / "benchmarks"
    header = "s\th:m:s\tmax_rss\n"
    files = {
        "train_finetune.tsv": "1235.0",
        "extract_vgg16_features/train.tsv": "1999.0",
        "augment_shard/train_0.tsv": "96.0",
        "augment_shard/train_1.tsv": "98.5",
    }
    for name, rss in files.items():
        (benchmarks / name).parent.mkdir(parents=True, exist_ok=True)
        (benchmarks / name).write_text(f"{header}1.0\t0:00:01\t{rss}\n")
    assert peaks(tmp_path) == {
        "train_finetune": 1235.0,
        "features_train": 1999.0,
        "augment_shard": 98.5,
    }
