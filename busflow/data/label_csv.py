"""Images listed in a CSV of ``path,label`` (paths relative to the CSV's folder, or absolute): an
external set, or a site of data.raw, given as a list instead of class folders."""

import csv
import hashlib
import os
from pathlib import Path

import pandas as pd

from busflow.data.images import DEFAULT_MAX_PIXELS
from busflow.data.scan import describe_image, drop_shared_ids
from busflow.errors import BadImageError, ConfigError

CSV_COLUMNS = ("path", "label")
# The config key error messages name when none is given.
EXTERNAL = "external:"


def is_csv(source) -> bool:
    return str(source).lower().endswith(".csv")


# The documented key that lets a CSV list images outside its own folder.
OUTSIDE_KEY = "data.csv_paths_outside_folder"


def read_label_csv(csv_path, setting: str = EXTERNAL, allow_outside: bool = False) -> pd.DataFrame:
    """The CSV's rows with paths made absolute and normalised (no '..'); errors name the CSV (and
    row) and the fix. A path outside the CSV's folder is refused unless ``allow_outside``
    (data.csv_paths_outside_folder), and a path listed twice is refused with both lines."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise ConfigError(
            f"{csv_path}: CSV of images not found. Fix its path under {setting} in the config."
        )
    check_row_lengths(csv_path)
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, index_col=False)
    except pd.errors.EmptyDataError:
        raise ConfigError(
            f"{csv_path}: the file is empty. A CSV of images needs a header 'path,label' and one "
            f"image per row."
        ) from None
    missing = [c for c in CSV_COLUMNS if c not in table.columns]
    if missing:
        raise ConfigError(
            f"{csv_path}: missing column(s) {', '.join(missing)}. A CSV of images needs a header "
            f"'path,label' and one image per row."
        )
    if table.empty:
        raise ConfigError(
            f"{csv_path}: the CSV lists no images (only a header). Add one image per row as "
            f"path,label, or remove it from {setting} in the config."
        )
    folder = os.path.normpath(os.path.abspath(csv_path.parent))
    table["path"] = [os.path.normpath(os.path.join(folder, p)) for p in table["path"]]
    for line, path in enumerate(table["path"], start=2):
        if not allow_outside and not is_inside(path, folder):
            raise ConfigError(
                f"{csv_path}, line {line}: {table['path'].iloc[line - 2]} is outside the CSV's "
                f"folder {folder}. List images in or below the CSV's folder (move the CSV up), or "
                f"set {OUTSIDE_KEY}: true to allow paths outside it."
            )
    check_listed_once(csv_path, table["path"])
    return table


def is_inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def check_listed_once(csv_path: Path, paths: pd.Series) -> None:
    lines: dict[str, list[int]] = {}
    for line, path in enumerate(paths, start=2):
        lines.setdefault(path, []).append(line)
    repeated = {path: at for path, at in lines.items() if len(at) > 1}
    if repeated:
        path, at = next(iter(repeated.items()))
        raise ConfigError(
            f"{path} is listed {len(at)} times in {csv_path}, lines "
            f"{', '.join(map(str, at[:-1]))} and {at[-1]}"
            + (f" ({len(repeated) - 1} more paths repeat)" if len(repeated) > 1 else "")
            + ". Keep one row per image."
        )


def image_id_in_csv(path: str, csv_path) -> str:
    """A listed image's id: its path below the CSV's folder, without extension. An image outside
    the folder (data.csv_paths_outside_folder) gets 'outside/<8 hex of its path's hash>/<name>':
    neither '..' nor the machine's absolute path reaches an id, a table or a figure."""
    folder = os.path.normpath(os.path.abspath(Path(csv_path).parent))
    if is_inside(path, folder):
        return Path(os.path.relpath(path, folder)).with_suffix("").as_posix()
    digest = hashlib.sha256(path.encode()).hexdigest()[:8]
    return f"outside/{digest}/{Path(path).stem}"


def check_row_lengths(csv_path: Path) -> None:
    """Every row has the header's number of fields; pandas would read an extra field as an index
    (shifting path into label) or fail with a ParserError that names neither file nor fix."""
    with open(csv_path, newline="") as handle:
        rows = csv.reader(handle)
        header = next(rows, [])
        for line, row in enumerate(rows, start=2):
            if row and len(row) != len(header):
                raise ConfigError(
                    f"{csv_path}, line {line}: not a CSV of the header's {len(header)} columns "
                    f"({len(row)} fields). Give one image per row as path,label; quote a path that "
                    f"holds a comma."
                )


# Optional columns a CSV of images may carry besides path,label (busflow.data.regions and
# busflow.data.patients read them from the manifest rows).
MASK_COLUMN, PATIENT_COLUMN = "mask", "patient"
BOX_COLUMNS = ("bbox_x", "bbox_y", "bbox_w", "bbox_h")


def annotations(table: pd.DataFrame, line: int, csv_path) -> dict:
    """A row's lesion masks (absolute paths, ';'-separated), box and patient, where given:
    ``listed_masks``, ``listed_box`` ('x y w h'), ``patient``, and ``listed_at`` (CSV, line)."""
    row = table.iloc[line - 2]
    folder = os.path.normpath(os.path.abspath(Path(csv_path).parent))
    masks = [m.strip() for m in str(row.get(MASK_COLUMN, "")).split(";") if m.strip()]
    box = [str(row.get(c, "")).strip() for c in BOX_COLUMNS]
    return {
        "listed_masks": ";".join(os.path.normpath(os.path.join(folder, m)) for m in masks),
        "listed_box": " ".join(box) if all(box) else "",
        "patient": str(row.get(PATIENT_COLUMN, "")).strip(),
        "listed_at": f"{csv_path}, line {line}",
    }


def check_patient_column(csv_path, table: pd.DataFrame) -> None:
    """A patient column must name every row's patient: a row without one could share a split
    with nobody or anybody, and CIs counted in patients would be wrong."""
    if PATIENT_COLUMN not in table.columns:
        return
    empty = [line for line, p in enumerate(table[PATIENT_COLUMN], start=2) if not p.strip()]
    if empty:
        lines = ", ".join(map(str, empty[:5])) + (" ..." if len(empty) > 5 else "")
        raise ConfigError(
            f"{csv_path}: column '{PATIENT_COLUMN}' is empty on {len(empty)} row(s) (line "
            f"{lines}). Give every row its patient id, or remove the column (each image is "
            "then its own unit)."
        )


def scan_csv(
    csv_path,
    classes,
    on_bad_image: str,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    setting: str = EXTERNAL,
    allow_outside: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decode every listed image; returns (rows, rejected) as busflow.data.scan.scan_images does.
    Image ids are busflow.data.label_csv.image_id_in_csv's."""
    table = read_label_csv(csv_path, setting, allow_outside)
    check_patient_column(csv_path, table)
    rows, rejected = [], []
    for line, (path, label) in enumerate(zip(table["path"], table["label"]), start=2):
        if label not in classes:
            raise ConfigError(
                f"{csv_path}, line {line}: label '{label}' is not one of data.classes "
                f"({', '.join(classes)}). Fix the label or data.classes."
            )
        try:
            row = describe_image(Path(path), label, Path(path).parent, max_pixels)
        except BadImageError as error:
            if on_bad_image != "skip":
                raise BadImageError(
                    path, f"{error.reason} (listed in {csv_path}, line {line})"
                ) from None
            rejected.append({"path": path, "reason": error.reason})
            continue
        row["image_id"] = image_id_in_csv(path, csv_path)
        rows.append({**row, **annotations(table, line, csv_path)})
    rows, rejected = drop_shared_ids(rows, rejected, on_bad_image)
    if not rows:
        reasons = "; ".join(f"{r['path']} ({r['reason']})" for r in rejected[:5])
        raise ConfigError(
            f"{csv_path}: no readable image left; data.on_bad_image: skip "
            f"rejected {len(rejected)}: {reasons}. Fix these files, or remove the "
            f"CSV from {setting} in the config."
        )
    return pd.DataFrame(rows), pd.DataFrame(rejected, columns=["path", "reason"])
