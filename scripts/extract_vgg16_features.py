"""Rule extract_vgg16_features: the VGG16 features the registered models read, once per split."""

from busflow.runtime.start import start_job

start_job(snakemake, snakemake.params.backend, snakemake.params.require_gpu)

from busflow.jobs.training import extract_vgg16_features_job  # noqa: E402  (Keras only after the backend is set)

extract_vgg16_features_job(
    shard_paths=snakemake.input.shards,
    weights_file=snakemake.params.weights_file,
    image_size=snakemake.params.image_size,
    batch_size=snakemake.params.batch_size,
    out_npz=snakemake.output[0],
    keys=snakemake.params.feature_keys,
    acceleration=snakemake.params.acceleration,
)
