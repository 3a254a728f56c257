"""Rule predict_images: every exported model on one set of new, unlabelled images."""

from busflow.runtime.start import start_job

start_job(snakemake, snakemake.params.backend)

from busflow.jobs.predict_images import predict_images_job  # noqa: E402  (Keras only after the backend is set)

predict_images_job(
    export_dirs=snakemake.input.exports,
    source=snakemake.params.source,
    batch_size=snakemake.params.batch_size,
    out_csv=snakemake.output[0],
    masks=snakemake.params.masks,
    whole_image=snakemake.params.whole_image,
)
