"""Rule extract_vgg16_features: VGG16 block4/block5 outputs of one split, computed once."""

from busflow.runtime import start_job

start_job(snakemake, snakemake.params.backend, snakemake.params.require_gpu)

from busflow.jobs.training import features_job  # noqa: E402  (Keras only after the backend is set)

features_job(
    snakemake.input.shards,
    snakemake.params.weights_file,
    snakemake.params.image_size,
    snakemake.params.batch_size,
    snakemake.output[0],
    acceleration=snakemake.params.acceleration,
)
