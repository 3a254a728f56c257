"""Rule split_views: each shard split's slice of the manifest and the split
(busflow.split.views)."""

import pandas as pd

from busflow.outputs import write_csv
from busflow.split.views import split_view


def split_views_job(manifest_csv, split_csv, protocol: str, out: dict) -> None:
    """out: split name -> (manifest slice path, split slice path)."""
    # as text, so that each slice holds its rows exactly as written (no number parsed back)
    manifest = pd.read_csv(manifest_csv, keep_default_na=False, dtype=str)
    split_table = pd.read_csv(split_csv, keep_default_na=False, dtype=str)
    for split, (manifest_out, split_out) in out.items():
        rows, assigned = split_view(manifest, split_table, split, protocol)
        write_csv(rows, manifest_out)
        write_csv(assigned, split_out)
        print(f"{split}: {rows['image_id'].nunique()} images")
