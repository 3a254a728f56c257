"""Rule build_external_manifest: one external set's images, those also in training flagged."""

from busflow.jobs.external_manifest import build_external_manifest_job
from busflow.runtime.start import start_job

start_job(snakemake)
build_external_manifest_job(
    source=snakemake.params.source,
    data_cfg=snakemake.params.data,
    masks=snakemake.params.masks,
    training_manifest_csv=snakemake.input.training_manifest,
    out=dict(snakemake.output.items()),
)
