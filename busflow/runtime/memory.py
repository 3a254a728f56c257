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

from busflow.models.registry import model_names, model_spec

# job -> (base MB, MB per sample of a batch at 224 px), TensorFlow 2.21 on the CPU
# (docs/results/memory/README.md). extract_vgg16_features: fitted to its train (batch 32) and
# val (6 samples) jobs; the training jobs: their measured peak at batch 20 less a per-sample term
# from the activations their model keeps for the backward pass; finetune45 (not measured on
# 2 cores) and evaluation (VGG16 inference, as extraction): the per-sample term of the
# activations, the base of the nearest measured job.
JOB_MEMORY = {
    "extract_vgg16_features": (1000.0, 32.0),
    "train_baseline": (800.0, 25.0),
    "train_transfer": (1000.0, 1.0),
    "train_finetune": (1150.0, 4.0),
    "train_finetune45": (1150.0, 12.0),
    "evaluate": (1000.0, 32.0),
}
# The rules ask for this much more than the estimate on the first attempt (another backend, a GPU
# runtime, a larger library version), and a multiple of it on each retry.
HEADROOM = 1.5
ROUND_MB = 500
# What the CUDA and cuDNN libraries add to a GPU job's host memory: not measured here (no GPU was
# lent to the 2-core machine that measured the table), a typical figure; the GPU rules add it.
GPU_RUNTIME_MB = 2000.0
CPU_JOBS = ("evaluate",)


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
    """What a rule asks SLURM for: the estimate (plus the GPU runtime for a GPU rule) with
    headroom, rounded up, times the attempt."""
    gpu = 0.0 if job in CPU_JOBS else GPU_RUNTIME_MB
    asked = (estimated_peak_mb(job, config, model) + gpu) * HEADROOM
    return int(math.ceil(asked / ROUND_MB) * ROUND_MB) * int(attempt)


def training_job(model: str) -> str:
    """The memory entry of a model's training rule: its own, else (a model registered since the
    measurements) that of the first measured model with the same trainer."""
    if f"train_{model}" in JOB_MEMORY:
        return f"train_{model}"
    trainer = model_spec(model).trainer
    return next(f"train_{m}" for m in model_names() if model_spec(m).trainer == trainer)


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
