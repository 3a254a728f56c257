"""Rule augment_shard: decode, resize and augment one shard of a split."""

from busflow.jobs.shards import shard_job
from busflow.runtime import start_job

start_job(snakemake)
shard_job(
    snakemake.input.manifest,
    snakemake.input.split,
    snakemake.wildcards.split,
    int(snakemake.wildcards.shard),
    snakemake.params.n_shards,
    snakemake.params.config,
    snakemake.output[0],
)
