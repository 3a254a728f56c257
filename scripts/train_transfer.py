"""Rule train_transfer: a dense head on VGG16 bottleneck features; saves base + head."""

from busflow.runtime import start_job

start_job(snakemake, snakemake.params.backend, snakemake.params.require_gpu)

from busflow.jobs.training import train_transfer_job  # noqa: E402  (Keras only after the backend is set)

train_transfer_job(
    snakemake.input.train,
    snakemake.input.val,
    snakemake.params.weights_file,
    snakemake.params.settings,
    snakemake.params.image_size,
    out={**dict(snakemake.output.items()), "checkpoint": snakemake.params.checkpoint},
    selection=snakemake.params.selection,
    acceleration=snakemake.params.acceleration,
)
