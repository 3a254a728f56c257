"""Rule augment_shard: decode, resize and augment one shard of a split."""

from busflow.jobs.shards import augment_shard_job
from busflow.runtime.start import start_job

start_job(snakemake)
augment_shard_job(
    manifest_csv=snakemake.input.manifest,
    split_csv=snakemake.input.split,
    split=snakemake.wildcards.split,
    shard=int(snakemake.wildcards.shard),
    n_shards=snakemake.params.n_shards,
    cfg=snakemake.params.config,
    out_npz=snakemake.output[0],
)
