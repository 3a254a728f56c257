"""Rule choose_operating_point: a model's threshold (and recalibration) from validation."""

from busflow.runtime.start import start_job

start_job(snakemake, snakemake.params.backend)

from busflow.jobs.evaluation import choose_operating_point_job  # noqa: E402  (Keras only after the backend is set)

choose_operating_point_job(
    model_file=snakemake.input.model,
    val_shards=snakemake.input.val,
    eval_cfg=snakemake.params.evaluation,
    out_json=snakemake.output[0],
    selection=snakemake.params.selection,
    acceleration=snakemake.params.acceleration,
    tta=snakemake.params.tta,
)
