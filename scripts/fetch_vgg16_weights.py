"""Rule fetch_vgg16_weights: download Keras' VGG16 notop weights once, checking the md5."""

from busflow.runtime import start_job
from busflow.weights import fetch_vgg16_weights

start_job(snakemake)
fetch_vgg16_weights(dest=snakemake.output[0])
