"""Rule index_exports: remove what earlier runs left in results/export, and list the run's
exports in results/export/index.json."""

from busflow.jobs.index_exports import index_exports_job
from busflow.runtime.start import start_job

start_job(snakemake)
index_exports_job(export_dirs=snakemake.input.exports, out_json=snakemake.output[0])
