"""A trained model as an artefact that leaves the run: stock Keras 3, no busflow needed to load it.

An export folder holds ``model.keras`` (grey uint8 pixels in, probability of malignancy out; every
layer a stock Keras layer, VGG16's input scaling included), ``model.json`` (what the pixels must
be, the operating point and recalibration chosen on validation images, the training data's
fingerprint, protocol, backend, versions), ``training_hashes.csv`` (the hashes of the images it
trained on, so that a prediction can say when a new image is a copy of one), ``README.md`` (how to
use it without busflow) and, where TensorFlow is installed, ``saved_model/`` (``model.export``);
where the onnx extra is, ``model.onnx`` (busflow.predict.onnx_export).

``model.json`` carries ``format``: a busflow that reads another format refuses the folder by name
(busflow.predict.export.read_export) instead of guessing what the fields meant.
"""

import datetime
import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import busflow
from busflow.errors import ExportError

FORMAT = 1
MODEL_FILE = "model.keras"
RECORD_FILE = "model.json"
HASHES_FILE = "training_hashes.csv"
SAVED_MODEL_DIR = "saved_model"
HASH_COLUMNS = ["image_id", "pixel_sha256", "window_hashes"]
INTENDED_USE = (
    "research only: not a medical device, not for diagnosis or for any decision about a patient"
)


def code_version(folder) -> str:
    """``git describe`` of the workflow's folder (with -dirty for uncommitted edits), or the
    package version when it is not a git checkout. Read inside a job, never as a rule param: a
    new commit must not re-run anything by itself."""
    try:
        described = subprocess.run(
            ["git", "-C", str(folder), "describe", "--always", "--dirty", "--tags"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        described = None
    if described is not None and described.returncode == 0:
        return f"busflow {busflow.__version__} ({described.stdout.strip()})"
    return f"busflow {busflow.__version__} (not a git checkout)"


def training_rows(manifest: pd.DataFrame, split: pd.DataFrame, fold: int) -> pd.DataFrame:
    """The manifest rows of the images that trained the model of ``fold`` (role train)."""
    trained = split[(split["fold"].astype(int) == int(fold)) & (split["split"] == "train")]
    return manifest[manifest["image_id"].isin(set(trained["image_id"]))]


def data_fingerprint(rows: pd.DataFrame) -> str:
    """SHA-256 of the sorted (image id, pixel hash) pairs: equal for the same training images
    whatever their file names' order or their files' encoding."""
    pairs = sorted(f"{i}\x1f{h}" for i, h in zip(rows["image_id"], rows["pixel_sha256"]))
    return hashlib.sha256("\x1e".join(pairs).encode()).hexdigest()


def training_data_record(
    manifest: pd.DataFrame, split: pd.DataFrame, fold: int, near_duplicate_distance: int
) -> dict:
    """What the model was trained on: counts per class and site, its fingerprint and the whole
    run's (the same for every fold of one run), the run images it never saw (validation, test),
    and the distance at which a new image counts as a near duplicate of one."""
    rows = training_rows(manifest, split, fold)
    sites = rows["site"] if "site" in rows else pd.Series(["(one site)"] * len(rows))
    in_fold = split[split["fold"].astype(int) == int(fold)]
    return {
        "fingerprint_sha256": data_fingerprint(rows),
        "run_fingerprint": data_fingerprint(manifest),
        "n_images": int(len(rows)),
        "per_class": {str(k): int(v) for k, v in rows["label"].value_counts().sort_index().items()},
        "per_site": {
            str(k): int(v) for k, v in sites.replace("", "(one site)").value_counts().items()
        },
        "n_validation": int((in_fold["split"] == "val").sum()),
        "n_test": int((in_fold["split"] == "test").sum()),
        "near_duplicate_distance": int(near_duplicate_distance),
    }


@dataclass(frozen=True)
class ExportedModel:
    """One export folder, read and checked (busflow.predict.export.read_export)."""

    folder: Path
    record: dict

    @property
    def name(self) -> str:
        return self.record["model"]["name"]

    @property
    def fold(self) -> int | None:
        return self.record["model"]["fold"]

    @property
    def image_size(self) -> int:
        return int(self.record["input"]["shape"][0])

    @property
    def threshold(self) -> float:
        return float(self.record["operating_point"]["threshold"])

    @property
    def model_file(self) -> Path:
        return self.folder / MODEL_FILE

    def training_hashes(self) -> pd.DataFrame:
        return pd.read_csv(self.folder / HASHES_FILE, keep_default_na=False, dtype=str)


def find_exports(path) -> list[Path]:
    """The export folders at or under ``path`` (a folder holding model.json, or one above such
    folders, as results/export is), sorted."""
    path = Path(path)
    if (path / RECORD_FILE).is_file():
        return [path]
    return sorted(p.parent for p in path.rglob(RECORD_FILE)) if path.is_dir() else []


def read_export(folder) -> ExportedModel:
    """The export in ``folder``, refused with a message naming the folder and the fix when a file
    is missing, its format is not this busflow's, model.json lacks a key predicting reads
    (REQUIRED_KEYS), or its parts disagree."""
    folder = Path(folder)
    record_file = folder / RECORD_FILE
    if not record_file.is_file():
        raise ExportError(
            f"{folder}: not a busflow export (no {RECORD_FILE}). Point at a folder written by the "
            "workflow's export (results/export/<model>), or at results/export for all of them."
        )
    try:
        record = json.loads(record_file.read_text())
    except json.JSONDecodeError as error:
        raise ExportError(f"{record_file}: not valid JSON ({error}); export the model again.")
    check_format(record_file, record)
    check_keys(record_file, record)
    for name in (MODEL_FILE, HASHES_FILE):
        if not (folder / name).is_file():
            raise ExportError(
                f"{folder / name}: missing from the export; copy the whole folder, or export the "
                "model again (snakemake results/export/...)."
            )
    return ExportedModel(folder, record)


def check_format(record_file: Path, record: dict) -> None:
    found = record.get("format")
    if found != FORMAT:
        written_by = record.get("busflow_version", "an unknown busflow")
        raise ExportError(
            f"{record_file}: export format {found!r} (written by {written_by}); this busflow "
            f"({busflow.__version__}) reads format {FORMAT}. Export the model again with this "
            f"busflow, or predict with the busflow that exported it."
        )


# What predicting reads from model.json (busflow.predict.predictions), as dotted paths: checked
# when the export is read, so that an edited or cut record stops before any image is decoded.
REQUIRED_KEYS = (
    "model.name",
    "model.fold",
    "model.folds",
    "input.shape",
    "input.preprocess",
    "input.max_image_pixels",
    "classes",
    "operating_point.threshold",
    "recalibration.method",
    "recalibration.scale",
    "recalibration.shift",
    "training_data.run_fingerprint",
    "training_data.near_duplicate_distance",
)


def missing_keys(record: dict) -> list[str]:
    """The REQUIRED_KEYS ``record`` lacks, in their order (a section that is missing, or not a
    mapping, lacks each of its keys)."""
    missing = []
    for key in REQUIRED_KEYS:
        node = record
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(key)
                break
            node = node[part]
    return missing


def check_keys(record_file: Path, record: dict) -> None:
    """Raise ExportError naming model.json and every key predicting needs that it lacks."""
    missing = missing_keys(record)
    if missing:
        raise ExportError(
            f"{record_file}: missing {', '.join(missing)}, which predicting needs (the file was "
            "edited or cut short). Copy model.json again from the export, or export the model "
            "again (snakemake results/export/...)."
        )


def region_note(record: dict) -> str:
    """The README's warning for a model trained on lesion regions (input.roi in model.json)."""
    roi = record["input"].get("roi") or {}
    if roi.get("mode", "none") == "none":
        return ""
    outside = " and set the pixels outside the mask to 0" if roi["mode"] == "mask" else ""
    return f"""
**This model was trained on lesion regions** (`input.roi`: {roi["mode"]}, margin {roi["margin"]}),
not whole images: crop each image to its lesion's box (from an expert's mask or box) grown by the
margin on each side before the resize{outside}.
`python -m busflow.predict` does this from masks beside the images (`<name>_mask.png`), `--masks
FOLDER`, or a CSV's `mask` / `bbox_x,bbox_y,bbox_w,bbox_h` columns; an image without a region is
refused unless `--whole-image` is given. On a whole image its output is not what was validated.
"""


def write_readme(folder: Path, record: dict) -> None:
    from busflow.predict.onnx_export import onnx_readme  # imports Keras: only when writing

    size = record["input"]["shape"][0]
    start = (record["model"].get("weights") or {}).get("start", "not recorded")
    text = f"""# {record["model"]["name"]}: {record["model"]["title"]}

Intended use: {INTENDED_USE}. Starting weights: {start} (`model.weights` in `model.json`).

Exported by {record["code_version"]} on {record["created"]}; trained under the
{record["protocol"]["name"]} protocol ({record["protocol"]["description"]}).

`model.keras` loads with stock Keras 3 (any backend), without busflow:

```python
import json, keras, numpy as np
from PIL import Image

model = keras.saving.load_model("model.keras")
record = json.load(open("model.json"))
grey = Image.open("scan.png").convert("L").resize(({size}, {size}), Image.Resampling.BILINEAR)
raw = float(model.predict(np.asarray(grey, np.uint8)[None, :, :, None], verbose=0)[0, 0])
cal = record["recalibration"]  # probability -> sigmoid(scale * logit(p) + shift)
p = min(max(raw, 1e-7), 1 - 1e-7)
z = cal["scale"] * np.log(p / (1 - p)) + cal["shift"] if cal["method"] != "none" else None
probability = raw if z is None else float(1 / (1 + np.exp(-z)))
malignant = probability >= record["operating_point"]["threshold"]
```

This plain recipe matches busflow's decoding for 8-bit grey or RGB files without transparency,
and with `data.preprocess` off (`input.preprocess` in `model.json`). For every other file, and
for the duplicate check against the training images, use
`python -m busflow.predict <this folder> <images...>`.

The recipe covers 8-bit files. 16-bit files are stretched per image by busflow (in training
too): each file's darkest pixel becomes 0 and its brightest 255 (`input.high_bit_depth`), where
`convert("L")` clips. For a 16-bit file, replace the `grey = ...` line by

```python
pixels = np.asarray(Image.open("scan.png"), np.float64)
stretched = ((pixels - pixels.min()) * (255.0 / max(np.ptp(pixels), 1.0))).round().astype(np.uint8)
grey = Image.fromarray(stretched).resize(({size}, {size}), Image.Resampling.BILINEAR)
```
{onnx_readme(record)}{region_note(record)}"""
    (folder / "README.md").write_text(text)


def write_training_hashes(folder: Path, rows: pd.DataFrame) -> None:
    rows[HASH_COLUMNS].to_csv(folder / HASHES_FILE, index=False)


def export_created() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clear_folder(folder: Path) -> None:
    """An export folder is written whole: what an earlier export left there goes first."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
