"""Exported models on new patients' images: the probability of malignancy, the decision at each
model's validation-chosen operating point, and a flag for copies of training images.

    python -m busflow.predict MODEL_DIR IMAGES... [-o predictions.csv]

MODEL_DIR is an export folder (results/export/<model>), or a folder above several
(results/export: every model, and the folds of a k-fold run, which are averaged). IMAGES are
image files, folders or CSVs with a ``path`` column (busflow.predict.new_images). The workflow's
predict rule calls the same ``predict_table``, so both give the same numbers.

One row per file: a file that fails the checks training images pass is listed with its reason
(status ``failed``), never dropped. Each model adds ``<model>_probability`` (recalibrated as
chosen on validation; under k-fold the mean of the fold models, each fold also in
``<model>_fold<k>_probability``), ``<model>_threshold`` and ``<model>_decision``.
"""

import argparse
import json
import sys
from collections import defaultdict

import numpy as np
import pandas as pd

from busflow.data.external import flag_training_overlap
from busflow.data.preprocess import Preprocess
from busflow.data.regions import RoiRule
from busflow.errors import BusflowError, ExportError
from busflow.evaluate.calibration import Recalibration
from busflow.models.registry import model_names
from busflow.predict.export import ExportedModel, find_exports, read_export
from busflow.predict.new_images import (
    gather,
    locate_regions,
    model_pixels,
    read_new_image,
    size_warning,
)

# Images decoded at once: bounds memory on a large folder (each kept at full size until scored).
CHUNK = 64


def load_exports(paths) -> list[ExportedModel]:
    """Every export at or under ``paths``, checked; one model from two sizes or runs is refused."""
    folders = [folder for path in paths for folder in find_exports(path)]
    if not folders:
        raise ExportError(
            f"{', '.join(map(str, paths))}: no exported model here (no model.json at or below). "
            "Run the workflow's export (snakemake results/export) and point at results/export."
        )
    exports = sorted((read_export(folder) for folder in folders), key=registry_order)
    check_one_run_per_model(exports)
    return exports


def registry_order(export: ExportedModel) -> tuple:
    """Models in busflow/models/registry.py's order (the table's), folds in order: the rule and the
    command line name the same folders in different orders."""
    names = model_names()
    rank = names.index(export.name) if export.name in names else len(names)
    return rank, export.name, export.fold or 0


def check_one_run_per_model(exports: list[ExportedModel]) -> None:
    """Several exports of one model must be the folds of one run (they are averaged)."""
    by_model = defaultdict(list)
    for export in exports:
        by_model[export.name].append(export)
    for name, group in by_model.items():
        folds = [export.fold for export in group]
        runs = {
            (e.record["model"]["folds"], e.image_size, e.record["training_data"]["run_fingerprint"])
            for e in group
        }
        if len(group) > 1 and (None in folds or len(set(folds)) < len(folds) or len(runs) > 1):
            raise ExportError(
                f"model '{name}' is exported {len(group)} times ("
                + ", ".join(str(e.folder) for e in group)
                + ") and not as the folds of one run: point at one run's results/export."
            )


def load_keras_model(export: ExportedModel):
    """The stock Keras model of an export, checked against what model.json says it takes."""
    import keras

    model = keras.saving.load_model(export.model_file)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    expected = tuple(export.record["input"]["shape"])
    if shape != expected:
        raise ExportError(
            f"{export.folder}: model.keras takes {shape} pixels but model.json says {expected}; "
            "the folder mixes two exports. Export the model again."
        )
    return model


def score(model, pixels: np.ndarray, batch_size: int) -> np.ndarray:
    return model.predict(pixels, batch_size=batch_size, verbose=0).ravel().astype(float)


def calibrated(export: ExportedModel, raw: np.ndarray) -> np.ndarray:
    return Recalibration.from_record(export.record["recalibration"]).apply(raw)


def predict_table(
    export_paths, sources, batch_size: int = 32, masks=None, whole_image: bool = False
) -> pd.DataFrame:
    """The predictions table (see the module doc) of every exported model on every source file.
    Models trained on lesion regions (``input.roi`` in model.json) cut each image to its region:
    from a CSV's mask or box columns, masks beside it, or the ``masks`` folder; an image without
    one fails its row, unless ``whole_image``."""
    exports = load_exports(export_paths)
    models = [load_keras_model(export) for export in exports]
    listed = gather(sources)
    first = exports[0].record
    rule = region_rule(exports)
    rows, probabilities = [], [[] for _ in exports]
    for start in range(0, len(listed), CHUNK):
        images = [
            read_new_image(i, p, first["input"]["max_image_pixels"])
            for i, p in listed[start : start + CHUNK]
        ]
        if rule.used:
            locate_regions(images, rule, sources, masks, whole_image)
        for k, (export, model) in enumerate(zip(exports, models)):
            probabilities[k] += list(chunk_probabilities(export, model, images, batch_size))
        rows += flag_duplicates([image_row(image, exports) for image in images], images, exports)
    return assemble(pd.DataFrame(rows), exports, np.asarray(probabilities, dtype=float), first)


def region_rule(exports: list[ExportedModel]) -> RoiRule:
    """The lesion-region rule the exports were trained with (none for exports made before
    regions existed); exports of two rules would need two views of each image: refused."""
    rules = {json.dumps(e.record["input"].get("roi") or {}, sort_keys=True) for e in exports}
    if len(rules) > 1:
        raise ExportError(
            "the exports were trained on different image regions ("
            + "; ".join(sorted(rules))
            + "): predict with one run's results/export at a time."
        )
    return RoiRule.from_record(exports[0].record["input"].get("roi"))


def chunk_probabilities(export: ExportedModel, model, images, batch_size: int) -> np.ndarray:
    """Recalibrated probabilities of one chunk (NaN for failed files)."""
    preprocess = Preprocess.from_config(export.record["input"]["preprocess"])
    rule = RoiRule.from_record(export.record["input"].get("roi"))
    good = [image for image in images if image.ok]
    result = np.full(len(images), np.nan)
    if good:
        pixels = np.stack(
            [model_pixels(image, export.image_size, preprocess, rule) for image in good]
        )
        result[[image.ok for image in images]] = calibrated(
            export, score(model, pixels, batch_size)
        )
    return result


def image_row(image, exports: list[ExportedModel]) -> dict:
    warnings = list(image.warnings)
    if image.ok:
        sizes = sorted({export.image_size for export in exports})
        warnings += [w for w in (size_warning(image, max(sizes)),) if w]
    return {
        "image_id": image.image_id,
        "path": image.path,
        "status": "ok" if image.ok else "failed",
        "reason": image.reason,
        "warning": "; ".join(warnings),
    }


def flag_duplicates(rows: list[dict], images, exports: list[ExportedModel]) -> list[dict]:
    """duplicate_of_training: the training image this one copies (same pixels: exact; a window
    hash within the run's near-duplicate distance: near), as the external sets are checked."""
    for row in rows:
        row.update(duplicate_of_training="", duplicate_kind="")
    good = [(row, image) for row, image in zip(rows, images) if image.ok]
    training = pd.concat([e.training_hashes() for e in exports]).drop_duplicates("pixel_sha256")
    if not good or training.empty:
        return rows
    distance = int(exports[0].record["training_data"]["near_duplicate_distance"])
    table = pd.DataFrame([image.fingerprint for _, image in good]).assign(image_id="")
    matches = flag_training_overlap(table, training, distance)["training_match"]
    pixels_of = dict(zip(training["image_id"], training["pixel_sha256"]))
    for (row, image), match in zip(good, matches):
        if match:
            exact = pixels_of[match] == image.fingerprint["pixel_sha256"]
            row.update(duplicate_of_training=match, duplicate_kind="exact" if exact else "near")
    return rows


def assemble(table: pd.DataFrame, exports, probabilities: np.ndarray, first: dict) -> pd.DataFrame:
    """Add each model's columns: fold columns and their mean under k-fold, threshold, decision."""
    classes = first["classes"]
    by_model = defaultdict(list)
    for k, export in enumerate(exports):
        by_model[export.name].append(k)
    for name, members in by_model.items():
        if len(members) > 1:
            for k in members:
                table[f"{name}_fold{exports[k].fold}_probability"] = probabilities[k]
        mean = probabilities[members].mean(axis=0)
        threshold = float(np.mean([exports[k].threshold for k in members]))
        table[f"{name}_probability"] = mean
        table[f"{name}_threshold"] = threshold
        table[f"{name}_decision"] = np.where(
            np.isnan(mean), "", np.where(mean >= threshold, classes[1], classes[0])
        )
    return table


def summary_line(table: pd.DataFrame) -> str:
    failed = table[table["status"] == "failed"]
    copies = int((table["duplicate_of_training"] != "").sum())
    line = (
        f"{len(table)} images: {len(table) - len(failed)} predicted, {len(failed)} failed the "
        f"checks, {copies} copies of training images (flagged)"
    )
    return line + "".join(f"\n  failed: {r.path}: {r.reason}" for r in failed.itertuples())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m busflow.predict", description=__doc__.splitlines()[0]
    )
    parser.add_argument("model_dir", help="an export folder, or results/export for all models")
    parser.add_argument("images", nargs="+", help="image files, folders or CSVs (column path)")
    parser.add_argument("-o", "--output", help="CSV to write (default: print it)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backend", help="Keras backend (default: KERAS_BACKEND, or tensorflow)")
    parser.add_argument(
        "--masks",
        metavar="FOLDER",
        help="lesion masks of the images, for models trained on regions (data.roi): files "
        "<name>.<ext> or <name>_<anything>.<ext>; masks beside the images (<name>_mask.png) and "
        "a CSV's mask or bbox_x,bbox_y,bbox_w,bbox_h columns are read without it",
    )
    parser.add_argument(
        "--whole-image",
        action="store_true",
        help="predict images without a lesion region from the whole image (flagged per row) "
        "instead of failing them, for models trained on regions",
    )
    args = parser.parse_args(argv)
    from busflow.runtime.start import select_backend

    try:
        select_backend(args.backend, keras_job=True)
        table = predict_table(
            [args.model_dir], args.images, args.batch_size, args.masks, args.whole_image
        )
    except BusflowError as error:
        print(f"busflow.predict: {error}", file=sys.stderr)
        return 2
    if args.output:
        table.to_csv(args.output, index=False)
    else:
        print(table.to_csv(index=False), end="")
    print(summary_line(table), file=sys.stderr)
    return 0
