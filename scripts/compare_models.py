"""Rule compare_models: this run's models beside the paper's and Hadad et al.'s figures."""

from busflow.jobs.comparison import compare_models_job
from busflow.runtime.start import start_job

start_job(snakemake)
compare_models_job(
    metrics_files=[*snakemake.input.metrics, *snakemake.input.sites, *snakemake.input.external],
    references_csv=snakemake.input.references,
    out=dict(snakemake.output.items()),
    roi=snakemake.params.roi,
)
