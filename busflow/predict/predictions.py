"""Exported models on new patients' images: the probability of malignancy, the decision at each
model's validation-chosen operating point, and a flag for copies of training images.

    python -m busflow.predict MODEL_DIR IMAGES... [-o predictions.csv]
    python -m busflow.predict -m MODEL_DIR [-m MODEL_DIR ...] IMAGES... [-o predictions.csv]

MODEL_DIR is an export folder (results/export/<model>), or a folder above several
(results/export: every model, and the folds of a k-fold run, which are averaged; one fold's
folder alone predicts with that fold's model only, with a warning). Models of several runs are
given each with -m (then every positional argument is IMAGES). IMAGES are image files, folders
(every file under them that is not hidden, but <name>_mask* files beside an image: its lesion
mask) or CSVs with a ``path`` column (busflow.predict.new_images); a file named twice is
predicted once. The workflow's predict rule calls the same ``predict_table``, so both give the
same numbers.

Output: a CSV (printed, or written to -o FILE, whose folder must exist and which may not be an
input), one row per file; a file that fails the checks training images pass is listed with its
reason, never dropped. Columns:
  image_id, path                 the file (ids: names in a folder, or a CSV's image_id column)
  status, reason                 ok, or failed and why
  warning                        predicted, but read with care (small image, no lesion region,
                                 one fold of a k-fold run, a 16-bit file stretched to 8 bits)
  duplicate_of_training          the training image this one copies ("" when none), and
  duplicate_kind                 exact (same pixels) or near (within the run's distance;
                                 a left-right mirror counts)
  <model>_probability            probability of the positive class, recalibrated as chosen on
                                 validation; under k-fold the mean of the fold models, each
  <model>_fold<k>_probability    fold's also given
  <model>_threshold              the operating point chosen on validation
  <model>_decision               the class at that threshold ("" for a failed file)

Exit codes: 0 the table was made (failed files are rows, not errors); 2 a busflow error (an
export, an image source, an option or an -o that cannot be used), printed on stderr with its fix.
"""

import argparse
import json
import os
import sys
import zipfile
from collections import defaultdict

import numpy as np
import pandas as pd

from busflow.data.external import flag_training_overlap
from busflow.data.label_csv import is_csv
from busflow.data.preprocess import Preprocess
from busflow.data.regions import RoiRule
from busflow.errors import BusflowError, ConfigError, ExportError
from busflow.evaluate.calibration import Recalibration
from busflow.models.registry import model_names
from busflow.predict.export import ExportedModel, find_exports, read_export
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
from busflow.runtime.backends import BACKENDS

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
    """The predictions table (see the module doc) of every exported model on every source file.
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


USAGE = """python -m busflow.predict MODEL_DIR IMAGES... [options]
       python -m busflow.predict -m MODEL_DIR [-m MODEL_DIR ...] IMAGES... [options]"""


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(
        prog="python -m busflow.predict",
        usage=USAGE,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    made.add_argument(
        "paths",
        nargs="+",
        metavar="MODEL_DIR IMAGES",
        help="an export folder (or results/export for all models), then image files, folders or "
        "CSVs (column path); with -m, only images",
    )
    made.add_argument(
        "-m",
        "--model",
        action="append",
        metavar="MODEL_DIR",
        help="an export folder, or a folder above several; repeat it for models of several runs",
    )
    made.add_argument("-o", "--output", help="CSV to write (default: print it)")
    made.add_argument("--batch-size", type=int, default=32)
    made.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend (default: KERAS_BACKEND, or tensorflow)",
    )
    made.add_argument(
        "--masks",
        metavar="FOLDER",
        help="lesion masks of the images, for models trained on regions (data.roi): files "
        "<name>.<ext> or <name>_<anything>.<ext>; masks beside the images (<name>_mask.png) and "
        "a CSV's mask or bbox_x,bbox_y,bbox_w,bbox_h columns are read without it",
    )
    made.add_argument(
        "--whole-image",
        action="store_true",
        help="predict images without a lesion region from the whole image (flagged per row) "
        "instead of failing them, for models trained on regions",
    )
    return made


def check_images(sources, models) -> None:
    """An export folder among the images (a second MODEL_DIR) would be listed as failed image
    rows: refused, with the syntax for several models."""
    for source in sources:
        if find_exports(source):
            raise ConfigError(
                f"{source}: an exported model (model.json at or below it), not images. Give "
                f"each model with -m: python -m busflow.predict -m {models[0]} -m {source} "
                "IMAGES..., or point at a folder above them (results/export holds every model of "
                "a run)."
            )


def check_output(output, sources) -> None:
    """Refuse, before any work, a table that could not be written or would overwrite an input:
    its folder must exist, and it may not be a source (an image, the CSV of paths), a file a
    CSV lists, or a file in a given folder but a CSV (an earlier table: the listing leaves the
    output out). Raises ConfigError naming the file."""
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise ConfigError(
            f"-o {output}: the folder {folder} does not exist. Create it (mkdir -p {folder}) or "
            "write the table elsewhere."
        )
    if os.path.isdir(output):
        raise ConfigError(
            f"-o {output} is a folder: name the CSV to write, e.g. "
            f"{os.path.join(output, 'predictions.csv')}."
        )
    written = os.path.realpath(output)
    for source in sources:
        for path in output_clashes(source, output):
            if os.path.realpath(path) == written:
                raise ConfigError(
                    f"-o {output} is {path}, one of the inputs: the table would overwrite it. "
                    "Write it elsewhere, e.g. -o predictions.csv."
                )


def output_clashes(source, output) -> list[str]:
    """The files of ``source`` the table must not overwrite: the source itself and what a CSV
    lists; in a folder, every file but a CSV (an earlier table, which the listing leaves out)."""
    if not os.path.isdir(source):
        return [str(source), *(path for _, path in listing([source]))]
    if is_csv(output):
        return []
    inside = os.path.realpath(output).startswith(os.path.realpath(source) + os.sep)
    # a mask beside an image or a hidden file is not listed, yet is the user's input too
    unlisted = [str(output)] if inside and os.path.lexists(output) else []
    return [path for _, path in listing([source])] + unlisted


def main(argv=None) -> int:
    arguments = parser()
    args = arguments.parse_args(argv)
    models, images = (args.model, args.paths) if args.model else (args.paths[:1], args.paths[1:])
    if not images:
        arguments.error("name the images to predict after MODEL_DIR: files, folders or CSVs")
    from busflow.runtime.start import select_backend

    try:
        select_backend(args.backend, keras_job=True, setting="--backend")
        check_images(images, models)
        if args.output:
            check_output(args.output, images)
        table = predict_table(
            models, images, args.batch_size, args.masks, args.whole_image, args.output
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
