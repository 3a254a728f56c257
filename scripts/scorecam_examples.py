"""Rule scorecam_examples: Score-CAM heat maps (gradient-free, any backend) of a few test images."""

from busflow.runtime.start import start_job

start_job(snakemake, snakemake.params.backend)

from busflow.jobs.scorecam import scorecam_examples_job  # noqa: E402  (Keras only after the backend is set)

scorecam_examples_job(
    model_file=snakemake.input.model,
    test_shards=snakemake.input.test,
    model_name=snakemake.wildcards.model,
    classes=snakemake.params.classes,
    per_class=snakemake.params.per_class,
    top_k=snakemake.params.top_k,
    out_png=snakemake.output[0],
    selection=snakemake.params.selection,
    operating_point_file=snakemake.input.operating_point,
)
