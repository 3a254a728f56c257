"""Rule build_external_manifest: one external set's images, checked against the training data."""

import pandas as pd

from busflow.data.external import build_external_manifest
from busflow.outputs import write_csv


def build_external_manifest_job(
    source, data_cfg: dict, training_manifest_csv, out: dict, masks=None
) -> None:
    """out: manifest, rejected (paths) of one external validation set; ``masks``: its mask
    folder (busflow.data.regions)."""
    training = pd.read_csv(training_manifest_csv, keep_default_na=False)
    tables = build_external_manifest(source, data_cfg, training, masks)
    for name, table in tables.items():
        write_csv(table, out[name])
    manifest = tables["manifest"]
    print(
        f"external set {source}: {len(manifest)} images, {int(manifest['in_training'].sum())} also "
        f"in the training data (left out of its metrics), {len(tables['rejected'])} rejected"
    )
