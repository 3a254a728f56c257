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
import os
import sys

from busflow.data.label_csv import is_csv
from busflow.errors import BusflowError, ConfigError
from busflow.predict.export import find_exports
from busflow.predict.new_images import listing
from busflow.predict.predictions import predict_table, summary_line
from busflow.runtime.backends import BACKENDS

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
