"""Rule train_baseline: the small CNN from scratch on the augmented training shards."""

from busflow.runtime import start_job

start_job(snakemake, snakemake.params.backend, snakemake.params.require_gpu)

from busflow.jobs.training import train_baseline_job  # noqa: E402  (Keras only after the backend is set)

train_baseline_job(
    snakemake.input.train,
    snakemake.input.val,
    snakemake.params.settings,
    snakemake.params.image_size,
    out={**dict(snakemake.output.items()), "checkpoint": snakemake.params.checkpoint},
    selection=snakemake.params.selection,
    acceleration=snakemake.params.acceleration,
)
