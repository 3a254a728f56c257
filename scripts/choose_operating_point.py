"""Rule choose_operating_point: a model's threshold (and recalibration) from its validation images."""

from busflow.runtime import start_job

start_job(snakemake, snakemake.params.backend)

from busflow.jobs.evaluation import operating_point_job  # noqa: E402  (Keras only after the backend is set)

operating_point_job(
    snakemake.input.model,
    snakemake.input.val,
    snakemake.params.evaluation,
    snakemake.output[0],
    selection=snakemake.params.selection,
    acceleration=snakemake.params.acceleration,
    tta=snakemake.params.tta,
)
