"""Rule plot_figures: training curves, ROC curves, confusion matrices and calibration as PNG."""

from busflow.jobs.figures import plot_figures_job
from busflow.runtime.start import start_job

start_job(snakemake)
plot_figures_job(
    models=snakemake.params.models,
    folds=snakemake.params.folds,
    history_files=snakemake.input.histories,
    prediction_files=snakemake.input.predictions,
    metrics_files=snakemake.input.metrics,
    classes=snakemake.params.classes,
    out=dict(snakemake.output.items()),
    calibration_bins=snakemake.params.calibration_bins,
)
