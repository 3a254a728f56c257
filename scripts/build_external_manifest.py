"""Rule build_external_manifest: one external set's images, with the ones also in the training data flagged."""

from busflow.jobs.external_manifest import external_manifest_job
from busflow.runtime import start_job

start_job(snakemake)
external_manifest_job(
    snakemake.params.source,
    snakemake.params.data,
    snakemake.input.training_manifest,
    dict(snakemake.output.items()),
)
