"""Rule plot_figures: training curves, ROC curves, confusion matrices and calibration as PNG."""

from busflow.jobs.figures import figures_job
from busflow.runtime import start_job

start_job(snakemake)
figures_job(
    snakemake.params.models,
    snakemake.params.folds,
    snakemake.input.histories,
    snakemake.input.predictions,
    snakemake.input.metrics,
    snakemake.params.classes,
    dict(snakemake.output.items()),
    calibration_bins=snakemake.params.calibration_bins,
)
