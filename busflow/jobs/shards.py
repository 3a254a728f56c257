"""Rule augment_shard: decode, resize and augment one shard of a split."""

import pandas as pd

from busflow.augment.shards import ShardSpec, build_shard, shard_meta, write_shard


def augment_shard_job(
    manifest_csv, split_csv, split: str, shard: int, n_shards: int, cfg: dict, out_npz
) -> None:
    spec = ShardSpec(split, shard, n_shards)
    manifest = pd.read_csv(manifest_csv, keep_default_na=False)
    split_table = pd.read_csv(split_csv, keep_default_na=False)
    arrays = build_shard(split_table, manifest, spec, cfg)
    write_shard(out_npz, arrays, shard_meta(spec, cfg))
    print(
        f"shard {split}/{shard}: {len(arrays['labels'])} samples from "
        f"{len(set(arrays['image_ids']))} images"
    )
