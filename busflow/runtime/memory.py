"""How much memory each Keras job needs, from measured peaks (docs/results/memory/), so the rules
ask SLURM for it and ``python -m busflow.runtime.doctor`` warns before submission when a profile
asks for less.

Since the splits stay on disk and are read one batch at a time (busflow.store), a job's peak RSS
no longer depends on how many images or copies there are: it is the framework and model (a base)
plus what one batch's activations take, which grows with the batch size and the pixels of an
image. The formula is

    peak MB = base + per_sample x batch size x (image size / 224)^2

with base and per_sample fitted per job on the TensorFlow backend on the CPU: per_sample is the
slope between two batch sizes of the same job at 224 px, base the peak of the workflow's own job
at its default batch size minus its batch term (bench: python -m busflow.runtime.memory_bench).
"""

import math

from busflow.models.registry import model_spec

# job -> (base MB, MB per sample of a batch at 224 px); docs/results/memory/README.md.
JOB_MEMORY = {
    "extract_vgg16_features": (1500.0, 60.0),
    "train_baseline_job": (1500.0, 60.0),
    "train_transfer_job": (1500.0, 1.0),
    "train_finetune_job": (1500.0, 30.0),
    "evaluate": (1500.0, 60.0),
}
# The rules ask for this much more than the estimate on the first attempt (another backend, a GPU
# runtime, a larger library version), and a multiple of it on each retry.
HEADROOM = 1.5
ROUND_MB = 500


def job_batch(job: str, config: dict, model: str | None = None) -> int:
    if job == "extract_vgg16_features":
        return int(config["training"]["feature_batch_size"])
    if job == "evaluate":
        return int(config["evaluation"]["batch_size"])
    return int(config["training"][model]["batch_size"])


def estimated_peak_mb(job: str, config: dict, model: str | None = None) -> float:
    """The job's expected peak RSS (MB) under ``config``; ``model`` for a training job."""
    base, per_sample = JOB_MEMORY[job]
    scale = (int(config["data"]["image_size"]) / 224) ** 2
    return base + per_sample * job_batch(job, config, model) * scale


def rule_mem_mb(job: str, config: dict, attempt: int = 1, model: str | None = None) -> int:
    """What a rule asks SLURM for: the estimate with headroom, rounded up, times the attempt."""
    asked = estimated_peak_mb(job, config, model) * HEADROOM
    return int(math.ceil(asked / ROUND_MB) * ROUND_MB) * int(attempt)


def training_job(model: str) -> str:
    """The memory entry of a model's training rule (its registry trainer)."""
    return model_spec(model).trainer


def planned_jobs(config: dict, models) -> list[tuple[str, str, str | None]]:
    """(rule name, memory entry, model) of the Keras jobs a run with ``models`` submits."""
    jobs = [("extract_vgg16_features", "extract_vgg16_features", None)]
    jobs += [(f"train_{model}", training_job(model), model) for model in models]
    jobs += [("evaluate_model", "evaluate", None), ("choose_operating_point", "evaluate", None)]
    return jobs


def memory_shortfalls(config: dict, models, asked_mb) -> list[str]:
    """A line per rule whose first-attempt mem_mb (``asked_mb(rule)``, None: the rule's own) is
    below the job's estimated peak under ``config``."""
    lines = []
    for rule, job, model in planned_jobs(config, models):
        asked = asked_mb(rule)
        peak = estimated_peak_mb(job, config, model)
        if asked is not None and float(asked) < peak:
            lines.append(f"{rule} asks for {int(asked)} MB, its estimated peak is {peak:.0f} MB")
    return lines
