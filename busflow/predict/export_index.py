"""Which export folders are the run's: ``results/export/index.json``.

Rule index_exports runs after every export of a run. It removes what an earlier run left beside
them (the exports of models no longer in ``models``, the one-split export of a model now exported
per fold, folds beyond ``evaluation.folds``) and writes the index: each export's folder, model,
fold and the SHA-256 of its model.json. ``python -m busflow.predict results/export`` predicts with
exactly what the index lists, and refuses by name an export beside them that it does not list,
or one exported again since the index was written; it never mixes two runs' models silently.
A model folder given by its own path needs no index (a folder copied out of the run).
"""

import json
import shutil
from pathlib import Path

from busflow.errors import ExportError
from busflow.hashing import file_sha256
from busflow.predict.export import RECORD_FILE, find_exports

INDEX_FILE = "index.json"
FIX = "run the workflow again (snakemake results/export/index.json, or the whole run)"


def export_entry(root: Path, folder: Path) -> dict:
    record = json.loads((folder / RECORD_FILE).read_text())
    return {
        "folder": folder.relative_to(root).as_posix(),
        "model": record["model"]["name"],
        "fold": record["model"]["fold"],
        "model_json_sha256": file_sha256(folder / RECORD_FILE),
    }


def write_index(root, folders) -> dict:
    """Write ``root``/index.json listing ``folders`` (the run's exports, under ``root``)."""
    root = Path(root)
    index = {"exports": [export_entry(root, Path(folder)) for folder in folders]}
    (root / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
    return index


def stale_paths(root, keep) -> list[Path]:
    """What an earlier run left under ``root`` beside the exports ``keep``: every other export
    folder, but only the files of one that holds a kept export (a one-split export's files in a
    model folder that now holds its folds)."""
    root, keep = Path(root), {Path(folder).resolve() for folder in keep}
    stale = []
    for folder in sorted(p.parent for p in root.rglob(RECORD_FILE)):
        here = folder.resolve()
        if here in keep or any(p.resolve() in (here, *here.parents) for p in stale):
            continue
        if not any(here in kept.parents for kept in keep):
            stale.append(folder)
            continue
        stale += [
            entry
            for entry in sorted(folder.iterdir())
            if not any(entry.resolve() == k or entry.resolve() in k.parents for k in keep)
        ]
    return stale


def remove_stale(root, keep) -> list[Path]:
    """Remove stale_paths(root, keep); returns them."""
    removed = stale_paths(root, keep)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


def run_folders(path) -> list[Path]:
    """The export folders ``path`` stands for: what its index.json lists (an export root written
    by the workflow), else every export at or below it. Refused with ExportError naming the
    folders: an export the index does not list or that changed since, or (without an index) an
    export with other exports inside it, which only an earlier run leaves."""
    path = Path(path)
    found = find_exports(path)
    if (path / INDEX_FILE).is_file():
        return indexed_folders(path, found)
    if (path / RECORD_FILE).is_file():
        inside = [p.parent for p in sorted(path.rglob(RECORD_FILE)) if p.parent != path]
        if inside:
            raise ExportError(
                f"{path}: holds an export (its own {RECORD_FILE}) and more exports inside it ("
                + ", ".join(map(str, inside))
                + "): one is left from an earlier run (one split, then folds). Point at one of "
                f"them, or {FIX}, which removes what the run did not make."
            )
    return found


def indexed_folders(root: Path, found: list[Path]) -> list[Path]:
    index_file = root / INDEX_FILE
    try:
        entries = json.loads(index_file.read_text())["exports"]
    except (ValueError, KeyError, TypeError) as error:
        raise ExportError(f"{index_file}: not an index of exports ({error}); {FIX}.") from None
    listed = [root / entry["folder"] for entry in entries]
    extra = [folder for folder in found if folder not in listed]
    if extra:
        raise ExportError(
            f"{root}: {', '.join(map(str, extra))} "
            + ("is" if len(extra) == 1 else "are")
            + f" not one of this run's exports (not in {index_file}): left by an earlier run "
            "with other models or folds, or copied in. Delete "
            + ("it" if len(extra) == 1 else "them")
            + f", point at the export folders you mean, or {FIX}, which removes them."
        )
    changed = [
        str(folder)
        for folder, entry in zip(listed, entries)
        if not (folder / RECORD_FILE).is_file()
        or file_sha256(folder / RECORD_FILE) != entry["model_json_sha256"]
    ]
    if changed:
        raise ExportError(
            f"{index_file} was written before {', '.join(changed)} "
            "changed (exported again, or removed), so it may not list the run's exports: "
            f"{FIX}."
        )
    return listed
