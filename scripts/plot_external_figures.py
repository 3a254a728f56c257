"""Rule plot_external_figures: ROC curves (beside the run's own test ROC) and calibration of every
model on one external set, as PNG."""

from busflow.jobs.figures import plot_external_figures_job
from busflow.runtime.start import start_job

start_job(snakemake)
plot_external_figures_job(
    name=snakemake.wildcards.name,
    models=snakemake.params.models,
    folds=snakemake.params.folds,
    external_predictions=snakemake.input.external_predictions,
    external_metrics=snakemake.input.external_metrics,
    internal_predictions=snakemake.input.internal_predictions,
    internal_metrics=snakemake.input.internal_metrics,
    out=dict(snakemake.output.items()),
    calibration_bins=snakemake.params.calibration_bins,
)
