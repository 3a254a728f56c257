"""Rule split_images: each image (duplicate group) to train, val or test, or to a fold."""

import pandas as pd

from busflow.config.sections import SplitSettings
from busflow.outputs import write_csv
from busflow.split import assign as split_lib
from busflow.split.record import read_record, write_record


def split_images_job(
    manifest_csv, split_cfg: dict, folds: int, out: dict, held_out_sites=None
) -> None:
    """out: split, conflicts, units (paths). Honours and extends the split record at
    split_cfg['record'].
    ``held_out_sites``: leave one site out (busflow.data.sites), fold k holding out the k-th."""
    record_path = SplitSettings.of(split_cfg).record
    record = read_record(record_path) if record_path else None
    manifest = pd.read_csv(manifest_csv, keep_default_na=False, dtype={"patient": str})
    plan = split_lib.plan_split(manifest, split_cfg, folds, record, held_out_sites)
    if record_path and plan.record is not record:
        write_record(
            plan.record, record_path
        )  # first: a job killed before split.csv re-runs to the same split
    write_csv(plan.table, out["split"])
    write_csv(plan.conflicts, out["conflicts"])
    units = split_lib.split_units(plan.table, manifest)
    write_csv(units, out["units"])
    print(units.to_string(index=False))
    if len(plan.conflicts):
        print(
            f"{len(plan.conflicts)} images in split conflicts, see "
            f"{out['conflicts']}:\n{plan.conflicts.to_string()}"
        )
