"""Rule train_finetune: VGG16 block5 + the transfer head (or a briefly retrained one), SGD, on cached block4 features."""

from busflow.runtime import start_job

start_job(snakemake, snakemake.params.backend, snakemake.params.require_gpu)

from busflow.jobs.training import train_finetune_job  # noqa: E402  (Keras only after the backend is set)

train_finetune_job(
    snakemake.input.train,
    snakemake.input.val,
    snakemake.input.transfer,
    snakemake.params.settings,
    out={**dict(snakemake.output.items()), "checkpoint": snakemake.params.checkpoint},
    selection=snakemake.params.selection,
    acceleration=snakemake.params.acceleration,
    head_settings=snakemake.params.head_settings,
)
