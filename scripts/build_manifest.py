"""Rule build_manifest: decode every raw image once; write the manifest and the QC tables."""

from busflow.jobs.manifest import manifest_job
from busflow.runtime import start_job

start_job(snakemake)
manifest_job(snakemake.params.raw, snakemake.params.data, dict(snakemake.output.items()))
