"""Rule evaluate_model: predictions and metrics (with bootstrap CIs) on the test split."""

from busflow.runtime.start import start_job

start_job(snakemake, snakemake.params.backend)

from busflow.jobs.evaluation import evaluate_model_job  # noqa: E402  (Keras only after the backend is set)

evaluate_model_job(
    model_file=snakemake.input.model,
    test_shards=snakemake.input.test,
    split_csv=snakemake.input.split,
    model_name=snakemake.wildcards.model,
    weights=snakemake.params.weights,
    eval_cfg=snakemake.params.evaluation,
    out=dict(snakemake.output.items()),
    selection=snakemake.params.selection,
    acceleration=snakemake.params.acceleration,
    tta=snakemake.params.tta,
    operating_point_file=snakemake.input.operating_point,
    training_device=snakemake.input.training_device,
)
