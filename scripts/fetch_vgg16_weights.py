"""Rule fetch_vgg16_weights: download Keras' VGG16 notop weights once, checking the md5."""

from busflow.models.weights import fetch_vgg16_weights
from busflow.runtime.start import start_job

start_job(snakemake)
fetch_vgg16_weights(dest=snakemake.output[0])
