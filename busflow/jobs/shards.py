"""Rule augment_shard: decode, resize and augment one shard of a split."""

import pandas as pd

from busflow.augment.shards import ShardSpec, stream_shard


def augment_shard_job(
    manifest_csv, split_csv, split: str, shard: int, n_shards: int, cfg: dict, out_npz
) -> None:
    spec = ShardSpec(split, shard, n_shards)
    manifest = pd.read_csv(manifest_csv, keep_default_na=False)
    split_table = pd.read_csv(split_csv, keep_default_na=False)
    counts = stream_shard(split_table, manifest, spec, cfg, out_npz)
    print(f"shard {split}/{shard}: {counts['samples']} samples from {counts['images']} images")
