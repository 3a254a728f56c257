"""Rule gradcam_examples: Score-CAM heat maps (gradient-free, any Keras backend) of a few test images."""

from busflow.runtime import start_job

start_job(snakemake, snakemake.params.backend)

from busflow.jobs.gradcam import cam_examples_job  # noqa: E402  (Keras only after the backend is set)

cam_examples_job(
    snakemake.input.model,
    snakemake.input.test,
    snakemake.wildcards.model,
    snakemake.params.classes,
    snakemake.params.per_class,
    snakemake.params.top_k,
    snakemake.output[0],
    selection=snakemake.params.selection,
    operating_point_file=snakemake.input.operating_point,
)
