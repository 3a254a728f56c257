"""Rule split_images: each image (duplicate group) to train, val or test, or to a fold."""

import pandas as pd

from busflow import split as split_lib
from busflow.outputs import write_csv


def split_job(manifest_csv, split_cfg: dict, folds: int, out_csv) -> None:
    table = split_lib.assign_splits(pd.read_csv(manifest_csv, keep_default_na=False), split_cfg, folds)
    write_csv(table, out_csv)
    print(table.groupby(["fold", "split", "label"]).size().to_string())
