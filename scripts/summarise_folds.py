"""Rule summarise_folds: one model's k-fold metrics (fold mean with t-interval, pooled out-of-fold)."""

from busflow.jobs.crossval import crossval_job
from busflow.runtime import start_job

start_job(snakemake)
crossval_job(
    snakemake.input.metrics,
    snakemake.input.predictions,
    snakemake.params.evaluation,
    dict(snakemake.output.items()),
)
