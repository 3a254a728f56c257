"""Exported models on new patients' images: the predictions table that the predict_images rule
and the command line (busflow.predict.cli, whose doc describes the table's columns) share."""

import json
import sys
import zipfile
from collections import defaultdict

import numpy as np
import pandas as pd

from busflow.data.external import flag_training_overlap
from busflow.data.preprocess import Preprocess
from busflow.data.regions import RoiRule
from busflow.errors import ExportError
from busflow.evaluate.calibration import Recalibration
from busflow.evaluate.crossval import fold_ensemble
from busflow.models.registry import model_names
from busflow.predict.export import ExportedModel, read_export
from busflow.predict.export_index import run_folders
from busflow.predict.new_images import (
    csv_annotations,
    listing,
    locate_regions,
    model_pixels,
    once_each,
    read_new_image,
    size_warning,
    unique_ids,
)

# Images decoded at once: bounds memory on a large folder (each kept at full size until scored).
CHUNK = 64


def load_exports(paths) -> list[ExportedModel]:
    """Every export at or under ``paths`` (what an export root's index.json lists), checked; one
    model from two sizes or runs is refused."""
    folders = [folder for path in paths for folder in run_folders(path)]
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
    """The stock Keras model of an export, checked against what model.json says it takes.
    Raises ExportError naming model.keras when Keras cannot read it (cut short or corrupt: Keras
    itself says "File not found" for a file that is not a whole .keras archive)."""
    import keras

    try:
        model = keras.saving.load_model(export.model_file)
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise ExportError(unreadable_model(export.model_file, error)) from None
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    expected = tuple(export.record["input"]["shape"])
    if shape != expected:
        raise ExportError(
            f"{export.folder}: model.keras takes {shape} pixels but model.json says {expected}; "
            "the folder mixes two exports. Export the model again."
        )
    return model


def unreadable_model(model_file, error: Exception) -> str:
    if zipfile.is_zipfile(model_file):
        why = f"Keras could not read it: {error}"
    else:
        why = "it is not a whole .keras archive: cut short or corrupt"
    return (
        f"{model_file}: the model file is damaged ({why}), as an interrupted copy or export "
        "leaves it. Copy the whole export folder again, or export the model again (snakemake "
        "results/export/...)."
    )


def score(model, pixels: np.ndarray, batch_size: int) -> np.ndarray:
    return model.predict(pixels, batch_size=batch_size, verbose=0).ravel().astype(float)


def calibrated(export: ExportedModel, raw: np.ndarray) -> np.ndarray:
    return Recalibration.from_record(export.record["recalibration"]).apply(raw)


def predict_table(
    export_paths,
    sources,
    batch_size: int = 32,
    masks=None,
    whole_image: bool = False,
    output=None,
) -> pd.DataFrame:
    """The predictions table (busflow.predict.cli's doc) of every exported model on every file.
    Models trained on lesion regions (``input.roi`` in model.json) cut each image to its region:
    from a CSV's mask or box columns, masks beside it, or the ``masks`` folder; an image without
    one fails its row, unless ``whole_image``. ``output``: the table's file, not listed as an
    image when it lies in a source folder. Notes on stderr what the table alone would not say
    (files named twice, one fold of a k-fold run, models of different image sizes)."""
    exports = load_exports(export_paths)
    models = [load_keras_model(export) for export in exports]
    listed = files_once(sources, output)
    partial = partial_folds(exports)
    note_sizes(exports)
    first = exports[0].record
    rule = region_rule(exports)
    annotations = csv_annotations(sources) if rule.used else {}  # once, not per chunk
    rows, probabilities = [], [[] for _ in exports]
    for start in range(0, len(listed), CHUNK):
        images = [
            read_new_image(i, p, first["input"]["max_image_pixels"])
            for i, p in listed[start : start + CHUNK]
        ]
        if rule.used:
            locate_regions(images, rule, annotations, masks, whole_image)
        for k, (export, model) in enumerate(zip(exports, models)):
            probabilities[k] += list(chunk_probabilities(export, model, images, batch_size))
        rows += flag_duplicates(
            [image_row(image, exports, partial) for image in images], images, exports
        )
    return assemble(pd.DataFrame(rows), exports, np.asarray(probabilities, dtype=float), first)


def note(text: str) -> None:
    print(f"busflow.predict: {text}", file=sys.stderr)


def files_once(sources, output) -> list[tuple[str, str]]:
    """new_images.gather's listing, with a note naming the entries dropped as repeats."""
    listed, repeated = once_each(listing(sources, output))
    if repeated:
        named = "; ".join(path for _, path in repeated[:5])
        more = f"; and {len(repeated) - 5} more" if len(repeated) > 5 else ""
        entries = "entry" if len(repeated) == 1 else "entries"
        note(
            f"note: {len(repeated)} {entries} named a file already listed (the same file twice, "
            f"by another path, or within a folder given too), predicted once under the first "
            f"name: {named}{more}"
        )
    return unique_ids(listed)


def partial_folds(exports: list[ExportedModel]) -> list[str]:
    """The row warnings of the k-fold models given with only some of their folds (one fold's
    folder named alone): their probability is not the run's answer, the mean of every fold's
    model. Each also warned about on stderr, with the folder that holds every fold."""
    by_model = defaultdict(list)
    for export in exports:
        by_model[export.name].append(export)
    warnings = []
    for name, group in by_model.items():
        folds = int(group[0].record["model"]["folds"])
        if folds <= 1 or len(group) >= folds:
            continue
        given = f"fold{'s' if len(group) > 1 else ''} "
        given += ", ".join(str(export.fold) for export in group) + f" of {folds}"
        note(
            f"warning: {name}: {given} only ({', '.join(str(e.folder) for e in group)}): its "
            f"probabilities come from {'that fold' if len(group) == 1 else 'those folds'} alone, "
            f"while the run's answer is the mean of all {folds} fold models. Point at "
            f"{all_folds_folder(group[0])} for the mean."
        )
        warnings.append(f"{name}: {given} only, not the mean of the run's {folds} folds")
    return warnings


def all_folds_folder(export: ExportedModel) -> str:
    """Where the export rule put every fold of ``export``'s model: results/export/<model>."""
    if export.folder.name == f"fold{export.fold}":
        return str(export.folder.parent)
    return f"the folder that holds every fold (results/export/{export.name})"


def note_sizes(exports: list[ExportedModel]) -> None:
    """Models of different image sizes (so of different runs) see each file at their own size:
    their probabilities are not from the same pixels, and small images are judged against the
    largest."""
    sizes = sorted({export.image_size for export in exports})
    if len(sizes) > 1:
        note(
            f"note: the models take different image sizes ({', '.join(map(str, sizes))}), so "
            "come from different runs: each predicts from the image resized to its own input, "
            f"and the 'smaller than the model input' warning compares with the largest "
            f"({sizes[-1]})."
        )


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


def image_row(image, exports: list[ExportedModel], model_warnings=()) -> dict:
    """One file's row; ``model_warnings`` (partial_folds) go on every predicted file's."""
    warnings = list(image.warnings)
    if image.ok:
        sizes = sorted({export.image_size for export in exports})
        warnings += [w for w in (size_warning(image, max(sizes)),) if w]
        warnings += list(model_warnings)
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
        mean, threshold = fold_ensemble(
            probabilities[members], [exports[k].threshold for k in members]
        )
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
