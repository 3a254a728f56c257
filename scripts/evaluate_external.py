"""Rule evaluate_external: one trained model (every fold's, under k-fold) on one external set."""

from busflow.runtime.start import start_job

start_job(snakemake, snakemake.params.backend)

from busflow.jobs.evaluation import evaluate_external_job  # noqa: E402  (Keras only after the backend is set)

evaluate_external_job(
    model_files=snakemake.input.models,
    manifest_csv=snakemake.input.manifest,
    run=snakemake.params.run,
    eval_cfg=snakemake.params.evaluation,
    out=dict(snakemake.output.items()),
    acceleration=snakemake.params.acceleration,
    tta=snakemake.params.tta,
    operating_point_files=snakemake.input.operating_points,
)
