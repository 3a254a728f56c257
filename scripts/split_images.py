"""Rule split_images: assign images to train/val/test (leak_free) or mark the paper's pool."""

from busflow.jobs.split import split_images_job
from busflow.runtime.start import start_job

start_job(snakemake)
split_images_job(
    manifest_csv=snakemake.input.manifest,
    split_cfg=snakemake.params.split,
    folds=snakemake.params.folds,
    out=dict(snakemake.output.items()),
    held_out_sites=snakemake.params.held_out_sites,
)
