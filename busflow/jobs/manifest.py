"""Rule build_manifest: decode every raw image once; write the manifest and the QC tables."""

from busflow.data import manifest as manifest_lib
from busflow.outputs import write_csv


def build_manifest_job(raw_dir, data_cfg: dict, out: dict) -> None:
    """out: manifest, rejected, duplicates, conflicts (paths)."""
    tables = manifest_lib.build_manifest(raw_dir, data_cfg)
    for name, table in tables.items():
        write_csv(table, out[name])
    print(
        f"manifest: {len(tables['manifest'])} images, {len(tables['rejected'])} "
        f"rejected, {len(tables['duplicates'])} duplicate pairs, "
        f"{len(tables['conflicts'])} images in label conflicts"
    )
