"""Rule summarise_folds: one model's k-fold metrics (fold mean with t-interval, pooled OOF)."""

from busflow.jobs.crossval import summarise_folds_job
from busflow.runtime.start import start_job

start_job(snakemake)
summarise_folds_job(
    metrics_files=snakemake.input.metrics,
    prediction_files=snakemake.input.predictions,
    eval_cfg=snakemake.params.evaluation,
    out=dict(snakemake.output.items()),
)
