"""Rule export_models: one trained model (one fold's) as a folder that leaves the run
(busflow.predict.export).

Import this only after busflow.runtime.start.start_job has chosen the backend.
"""

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pandas as pd

import busflow
import busflow.models.builders  # noqa: F401  (registers VGGInput, which the saved VGG16 models need to load)
from busflow.data.images import HIGH_BIT_DEPTH
from busflow.data.regions import RoiRule
from busflow.hashing import file_sha256
from busflow.models.builders import with_stock_layers
from busflow.models.registry import model_spec
from busflow.outputs import read_json, save_json
from busflow.predict.export import (
    FORMAT,
    INTENDED_USE,
    MODEL_FILE,
    SAVED_MODEL_DIR,
    clear_folder,
    code_version,
    export_created,
    training_data_record,
    training_rows,
    write_readme,
    write_training_hashes,
)
from busflow.predict.onnx_export import onnx_export
from busflow.protocol import DESCRIPTIONS, is_leaky
from busflow.runtime.acceleration import model_precision

# Largest difference allowed between the exported and the trained model on the same pixels.
MAX_EXPORT_DIFFERENCE = 1e-5


def export_models_job(
    model_file, operating_point_file, manifest_csv, split_csv, run: dict, out_dir
):
    """run: model, fold (None for one split), folds, protocol, image_size, classes, preprocess,
    max_image_pixels, near_duplicate_distance, tta_views, saved_model (bool), onnx (bool;
    absent: false), workflow_dir."""
    folder = Path(out_dir)
    clear_folder(folder)
    trained = keras.models.load_model(model_file)
    exported = with_stock_layers(trained)
    check_same_outputs(trained, exported, run["image_size"])
    exported.save(folder / MODEL_FILE)
    manifest = pd.read_csv(manifest_csv, keep_default_na=False)
    split = pd.read_csv(split_csv, keep_default_na=False)
    write_training_hashes(folder, training_rows(manifest, split, run["fold"] or 0))
    chosen = read_json(operating_point_file)
    record = export_record(
        run,
        chosen,
        training_data_record(manifest, split, run["fold"] or 0, run["near_duplicate_distance"]),
    )
    record["backend"]["precision"] = model_precision(trained)
    record["exports"] = {
        "keras": MODEL_FILE,
        **saved_model_export(exported, folder, run),
        **onnx_export(exported, folder, run.get("onnx", False)),
    }
    save_json(record, folder / "model.json")
    write_readme(folder, record)
    written = ", ".join(sorted(p.name for p in folder.iterdir()))
    print(f"exported {run['model']} to {folder}: {written}")


def check_same_outputs(trained, exported, image_size: int) -> None:
    """The stock-layer copy must give the trained model's probabilities (a few random images)."""
    pixels = np.random.default_rng(0).integers(0, 256, (4, image_size, image_size, 1), "uint8")
    difference = float(
        np.max(np.abs(trained.predict(pixels, verbose=0) - exported.predict(pixels, verbose=0)))
    )
    if difference > MAX_EXPORT_DIFFERENCE:
        raise RuntimeError(
            f"the exported copy of the model differs from it by {difference:.2e} on the same "
            "pixels; this is a bug in busflow.models.builders.with_stock_layers, please report it"
        )


def weights_record(pretrained: bool, weights_file) -> dict:
    """What the model's VGG16 started from: the weights file and its SHA-256, a seeded random
    initialisation (vgg16_weights: none), or nothing (a model trained from scratch)."""
    if not pretrained:
        return {"start": "none (trained from scratch)", "file": None, "sha256": None}
    if not weights_file:
        return {
            "start": "VGG16, random initialisation (not ImageNet)",
            "file": None,
            "sha256": None,
        }
    return {
        "start": "VGG16 from the weights file below (ImageNet for Keras' notop file)",
        "file": Path(weights_file).name,
        "sha256": file_sha256(weights_file),
    }


def region_words(run: dict) -> str:
    """How model.json's input line names the lesion region (busflow.data.regions), if any."""
    rule = RoiRule.of(run.get("roi") or {})
    if not rule.used:
        return ""
    outside = ", pixels outside the mask black" if rule.mode == "mask" else ""
    return (
        f"cut to the lesion region from an expert's mask or box (the box grown by "
        f"{rule.margin:g} of its size on each side, clamped to the image{outside}), "
    )


def export_record(run: dict, chosen: dict, training_data: dict) -> dict:
    spec = model_spec(run["model"])
    size = int(run["image_size"])
    return {
        "format": FORMAT,
        "busflow_version": busflow.__version__,
        "code_version": code_version(run["workflow_dir"]),
        "created": export_created(),
        "intended_use": INTENDED_USE,
        "model": {
            "name": spec.name,
            "title": spec.title,
            "fold": run["fold"],
            "folds": run["folds"],
            "weights": weights_record(spec.pretrained, run.get("vgg16_weights_file")),
        },
        "input": {
            "shape": [size, size, 1],
            "dtype": "uint8",
            "pixels": "8-bit grey (ITU-R 601 luma of colour; transparent pixels black; 16-bit "
            "and other high-bit-depth files min-max stretched to 8 bits per image), "
            f"{region_words(run)}data.preprocess applied at full size, then resized to {size} x "
            f"{size} (bilinear, aspect ratio not kept)",
            "high_bit_depth": HIGH_BIT_DEPTH,
            "preprocess": run["preprocess"],
            "roi": RoiRule.of(run.get("roi") or {}).as_record(),
            "max_image_pixels": run["max_image_pixels"],
        },
        "output": f"probability of '{run['classes'][1]}' (classes {run['classes']}), before the "
        "recalibration below",
        "classes": list(run["classes"]),
        "operating_point": chosen["operating_point"],
        "recalibration": chosen["recalibration"],
        "test_time_views": {
            "chosen_with": run["tta_views"],
            "note": "the threshold was chosen on the mean probability of this many views of each "
            "validation image; the export and python -m busflow.predict predict one view",
        },
        "training_data": training_data,
        "protocol": {
            "name": run["protocol"],
            "leaky": is_leaky(run["protocol"]),
            "description": DESCRIPTIONS[run["protocol"]],
        },
        "backend": {"name": keras.backend.backend(), "keras_version": keras.version()},
    }


# Keras 3.15's tf_saved_model export runs on these backends (JAX through jax2tf); on torch it
# stops with a torch.export dynamic-shapes error.
SAVED_MODEL_BACKENDS = ("tensorflow", "jax")


def saved_model_export(model, folder: Path, run: dict) -> dict:
    """``model.export`` as a TensorFlow SavedModel when asked, TensorFlow is installed and the
    backend can write one. Says why when it is missing: model.keras loads on every backend, so it
    can be re-exported elsewhere."""
    record = {"saved_model": None}
    backend = keras.backend.backend()
    if not run["saved_model"]:
        record["saved_model_note"] = "not exported: export.saved_model is false"
    elif importlib.util.find_spec("tensorflow") is None:
        record["saved_model_note"] = "not exported: TensorFlow is not installed where this ran"
    elif backend not in SAVED_MODEL_BACKENDS:
        record["saved_model_note"] = (
            f"not exported: Keras cannot write a SavedModel on the {backend} backend; load "
            "model.keras with KERAS_BACKEND=tensorflow or jax and call model.export"
        )
    else:
        model.export(str(folder / SAVED_MODEL_DIR), format="tf_saved_model", verbose=False)
        record["saved_model"] = SAVED_MODEL_DIR
        size = int(run["image_size"])
        record["saved_model_note"] = (
            f"serving endpoint 'serve': one uint8 tensor of pixels, shape (None, {size}, {size}, "
            "1) -> probability, shape (None, 1): serve(x)"
        )
    return record
