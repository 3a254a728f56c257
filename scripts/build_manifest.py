"""Rule build_manifest: decode every raw image once; write the manifest and the QC tables."""

from busflow.jobs.manifest import build_manifest_job
from busflow.runtime.start import start_job

start_job(snakemake)
build_manifest_job(
    raw_dir=snakemake.params.raw, data_cfg=snakemake.params.data, out=dict(snakemake.output.items())
)
