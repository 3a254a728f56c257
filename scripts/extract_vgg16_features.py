"""Rule extract_vgg16_features: the VGG16 features the registered models read, of one split, computed once."""

from busflow.runtime import start_job

start_job(snakemake, snakemake.params.backend, snakemake.params.require_gpu)

from busflow.jobs.training import features_job  # noqa: E402  (Keras only after the backend is set)

features_job(
    snakemake.input.shards,
    snakemake.params.weights_file,
    snakemake.params.image_size,
    snakemake.params.batch_size,
    snakemake.output[0],
    keys=snakemake.params.feature_keys,
    acceleration=snakemake.params.acceleration,
)
