"""Rule split_views: each shard split's slice of the manifest and the split."""

from busflow.jobs.split_views import split_views_job
from busflow.runtime.start import start_job

start_job(snakemake)
split_views_job(
    manifest_csv=snakemake.input.manifest,
    split_csv=snakemake.input.split,
    protocol=snakemake.params.protocol,
    out={
        split: (snakemake.output[f"{split}_manifest"], snakemake.output[f"{split}_split"])
        for split in snakemake.params.splits
    },
)
