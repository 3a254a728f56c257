"""Rules train_<model>: the registry's trainer for one model (busflow/models/registry.py)."""

from busflow.models.registry import TRAINING_RUN_KEYS
from busflow.runtime.start import start_job

start_job(snakemake, snakemake.params.backend, snakemake.params.require_gpu)

from busflow.jobs.training import train_model_job  # noqa: E402  (Keras only after the backend is set)

train_model_job(
    model=snakemake.params.model,
    inputs={key: snakemake.input.get(key) for key in ("train", "val", "start")},
    run={key: snakemake.params[key] for key in TRAINING_RUN_KEYS},
    out={**dict(snakemake.output.items()), "checkpoint": snakemake.params.checkpoint},
)
