"""Rule index_exports: results/export holds exactly the run's exports, and index.json lists them
(busflow.predict.export_index)."""

from pathlib import Path

from busflow.predict.export_index import remove_stale, write_index


def index_exports_job(export_dirs, out_json) -> None:
    root = Path(out_json).parent
    for path in remove_stale(root, export_dirs):
        print(f"removed {path}: not an export of this run (left by an earlier one)")
    index = write_index(root, export_dirs)
    print(f"{out_json}: {len(index['exports'])} exports")
