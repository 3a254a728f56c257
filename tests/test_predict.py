"""Exported models and busflow.predict.predictions on new images, without Snakemake: a real
(small, random VGG16) model exported by the rule's job, then used as a user would, including from
a process that cannot import busflow."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from busflow.errors import ConfigError, ExportError

SIZE = 32
# The platt map an operating point may carry: the export must apply it outside the model.
RECALIBRATION = {"method": "platt", "scale": 1.7, "shift": -0.3, "fitted_on": "validation"}


def operating_point(threshold: float) -> dict:
    return {
        "operating_point": {
            "rule": "youden",
            "target_sensitivity": None,
            "threshold": threshold,
            "chosen_on": "validation",
            "n_validation": 10,
            "validation_sensitivity": 0.8,
            "validation_specificity": 0.7,
        },
        "recalibration": RECALIBRATION,
    }


def training_tables(demo_raw: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A manifest and split of the demo images: the first 8 per class train, the rest test."""
    from busflow.data.scan import describe_image

    rows = []
    for label in ("benign", "malignant"):
        for path in sorted((demo_raw / label).glob("*.png")):
            rows.append({**describe_image(path, label, demo_raw), "site": ""})
    manifest = pd.DataFrame(rows)
    index = manifest.groupby("label").cumcount()
    split = manifest[["image_id", "label"]].assign(
        fold=0, split=np.where(index < 8, "train", "test")
    )
    return manifest, split


def export_model(
    tmp: Path,
    demo_raw: Path,
    name="transfer",
    fold=None,
    folds=1,
    threshold=0.4,
    roi=None,
    size=SIZE,
    list_input=False,
    weights_file=None,
    onnx=False,
):
    """Build a small VGG16 classifier, save it as training does, and export it with the job
    (``roi``: the lesion-region rule it records, data.roi's keys; ``size``: its input side;
    ``list_input``: rebuilt from its inputs and outputs lists, as fine-tuning saves its models;
    ``onnx``: export.onnx)."""
    import keras

    from busflow.jobs.export_models import export_models_job
    from busflow.models.builders import (
        assemble_classifier,
        build_head,
        build_vgg16_base,
        feature_channel_stats,
    )

    keras.utils.set_random_seed(fold or 0)
    base = build_vgg16_base(size)
    features = np.random.default_rng(1).random((8, *base.output.shape[1:]))
    head = build_head(base.output.shape[1:], stats=feature_channel_stats(features))
    model_file = tmp / f"{name}{fold}.keras"
    model = assemble_classifier(base, head, size, name)
    if list_input:  # busflow.jobs.training.train_finetune_job
        model = keras.Model(model.inputs, model.outputs, name=name)
    model.save(model_file)
    manifest, split = training_tables(demo_raw)
    manifest.to_csv(tmp / "manifest.csv", index=False)
    split.to_csv(tmp / "split.csv", index=False)
    (tmp / "op.json").write_text(json.dumps(operating_point(threshold)))
    out = tmp / "export" / name / ("" if fold is None else f"fold{fold}")
    run = {
        "model": name,
        "fold": fold,
        "folds": folds,
        "protocol": "leak_free",
        "image_size": size,
        "classes": ["benign", "malignant"],
        "preprocess": {
            "crop_to_field": False,
            "suppress_overlays": False,
            "normalise_intensity": "none",
        },
        "max_image_pixels": 50_000_000,
        "near_duplicate_distance": 6,
        "tta_views": 1,
        "saved_model": fold is None,
        "onnx": onnx,
        "roi": roi,
        "vgg16_weights_file": str(weights_file) if weights_file else None,
        "workflow_dir": str(Path(__file__).resolve().parents[1]),
    }
    export_models_job(
        model_file, tmp / "op.json", tmp / "manifest.csv", tmp / "split.csv", run, out
    )
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory, demo_raw) -> Path:
    return export_model(tmp_path_factory.mktemp("export"), demo_raw)


@pytest.fixture(scope="module")
def new_images(tmp_path_factory, demo_raw) -> Path:
    """A folder as a clinic sends it: grey, RGB, RGBA and tiny scans, a copy of a training image,
    a cropped re-scan of one, a test image, and a file that is not an image."""
    folder = tmp_path_factory.mktemp("new") / "clinic"
    folder.mkdir()
    test_image = demo_raw / "malignant/malignant_0010.png"
    trained = demo_raw / "benign/benign_0002.png"
    grey = Image.open(test_image)
    grey.save(folder / "grey.png")
    grey.convert("RGB").save(folder / "rgb_of_grey.png")
    rgba = grey.convert("RGBA")
    alpha = np.full(grey.size[::-1], 255, np.uint8)
    alpha[: alpha.shape[0] // 2] = 0  # the top half cropped out, as BrEaST's anonymised files
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(folder / "rgba.png")
    grey.resize((20, 16)).save(folder / "small.png")
    shutil.copy(trained, folder / "copy_of_training.png")
    pixels = np.asarray(Image.open(trained))
    Image.fromarray(pixels[2:, 2:]).save(folder / "rescan_of_training.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def predicted(exported, new_images) -> pd.DataFrame:
    from busflow.predict.predictions import predict_table

    return predict_table([exported], [new_images]).set_index("image_id")


def test_export_folder_holds_the_stock_model_its_record_and_a_saved_model(exported):
    record = json.loads((exported / "model.json").read_text())
    assert {p.name for p in exported.iterdir()} >= {
        "model.keras",
        "model.json",
        "training_hashes.csv",
        "README.md",
        "saved_model",
    }
    assert record["input"]["shape"] == [SIZE, SIZE, 1]
    assert record["operating_point"]["threshold"] == 0.4
    assert record["recalibration"] == RECALIBRATION
    assert record["protocol"] == {**record["protocol"], "name": "leak_free", "leaky": False}
    assert record["training_data"]["n_images"] == 16
    assert len(record["training_data"]["fingerprint_sha256"]) == 64
    assert record["exports"]["saved_model"] == "saved_model"
    assert record["exports"]["onnx"] is None and "not exported" in record["exports"]["onnx_note"]
    # no busflow layer in the saved graph: stock Keras can rebuild it
    assert "busflow" not in (exported / "model.keras").read_bytes().decode("latin-1")


STANDALONE = """
import json, sys
sys.modules["busflow"] = None  # the user's machine has no busflow
import keras, numpy as np
from PIL import Image
folder, images = sys.argv[1], sys.argv[2:]
model = keras.saving.load_model(folder + "/model.keras")
record = json.load(open(folder + "/model.json"))
size, cal = record["input"]["shape"][0], record["recalibration"]
out = {}
for path in images:
    grey = Image.open(path).convert("L").resize((size, size), Image.Resampling.BILINEAR)
    raw = float(model.predict(np.asarray(grey, np.uint8)[None, :, :, None], verbose=0)[0, 0])
    p = min(max(raw, 1e-7), 1 - 1e-7)
    out[path] = float(1 / (1 + np.exp(-(cal["scale"] * np.log(p / (1 - p)) + cal["shift"]))))
print(json.dumps(out))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_a_process_without_busflow_reproduces_the_probabilities(
    exported, new_images, predicted, backend, tmp_path
):
    script = tmp_path / "standalone.py"
    script.write_text(STANDALONE)
    names = ["grey.png", "rgb_of_grey.png", "copy_of_training.png"]
    result = subprocess.run(
        [sys.executable, "-I", str(script), str(exported), *[str(new_images / n) for n in names]],
        capture_output=True,
        text=True,
        env={"KERAS_BACKEND": backend, "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    theirs = json.loads(result.stdout.strip().splitlines()[-1])
    for name in names:
        ours = predicted.loc[name, "transfer_probability"]
        assert abs(theirs[str(new_images / name)] - ours) <= 1e-5, (backend, name)


def test_every_file_gets_a_row_and_a_failed_one_its_reason(predicted):
    assert len(predicted) == 7
    failed = predicted[predicted["status"] == "failed"]
    assert list(failed.index) == ["notes.txt"]
    assert "unsupported format '.txt'" in failed.loc["notes.txt", "reason"]
    assert np.isnan(failed.loc["notes.txt", "transfer_probability"])
    assert failed.loc["notes.txt", "transfer_decision"] == ""


def test_grey_rgb_and_rgba_are_read_as_training_reads_them(predicted, new_images):
    from busflow.data.images import decode_image

    p = predicted["transfer_probability"]
    assert p["grey.png"] == pytest.approx(p["rgb_of_grey.png"], abs=1e-7)
    # transparent pixels are black, as in training: not the grey picture under them
    grey, _ = decode_image(new_images / "rgba.png")
    assert grey[0, 0] == 0 and p["rgba.png"] != pytest.approx(p["grey.png"], abs=1e-6)


def test_an_image_smaller_than_the_input_is_predicted_with_a_warning(predicted):
    row = predicted.loc["small.png"]
    assert row["status"] == "ok" and 0 <= row["transfer_probability"] <= 1
    assert "smaller than the model input" in row["warning"]
    assert predicted.loc["grey.png", "warning"] == ""


def test_decision_is_the_threshold_from_validation_on_the_recalibrated_probability(predicted):
    ok = predicted[predicted["status"] == "ok"]
    assert (ok["transfer_threshold"] == 0.4).all()
    expected = np.where(ok["transfer_probability"] >= 0.4, "malignant", "benign")
    assert list(ok["transfer_decision"]) == list(expected)


def test_copies_of_training_images_are_flagged_exact_or_near(predicted):
    flags = predicted[["duplicate_of_training", "duplicate_kind"]]
    assert tuple(flags.loc["copy_of_training.png"]) == ("benign/benign_0002", "exact")
    assert tuple(flags.loc["rescan_of_training.png"]) == ("benign/benign_0002", "near")
    # a test image of the run is not a training image
    assert predicted.loc["grey.png", "duplicate_of_training"] == ""


def test_the_command_line_gives_the_same_table(exported, new_images, predicted, tmp_path):
    out = tmp_path / "cli.csv"
    result = subprocess.run(
        [sys.executable, "-m", "busflow.predict", str(exported), str(new_images), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "7 images: 6 predicted, 1 failed" in result.stderr
    cli = pd.read_csv(out, keep_default_na=False).set_index("image_id")
    np.testing.assert_allclose(
        pd.to_numeric(cli["transfer_probability"].replace("", np.nan)),
        predicted["transfer_probability"],
        atol=1e-7,
    )


def test_an_empty_folder_is_a_clear_error(exported, tmp_path):
    from busflow.predict.predictions import predict_table

    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="empty: the folder holds no files to predict"):
        predict_table([exported], [tmp_path / "empty"])


def test_a_csv_of_paths_names_its_rows(exported, new_images, tmp_path):
    from busflow.predict.predictions import predict_table

    listing = tmp_path / "list.csv"
    listing.write_text(f"path,image_id\n{new_images / 'grey.png'},patient-7\nmissing.png,gone\n")
    table = predict_table([exported], [listing]).set_index("image_id")
    assert table.loc["patient-7", "status"] == "ok"
    assert (
        table.loc["gone", "status"] == "failed" and "cannot be read" in table.loc["gone", "reason"]
    )


def copy_export(exported: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(exported, target)
    return target


def test_an_export_of_another_format_is_refused_by_name(exported, new_images, tmp_path):
    from busflow.predict.predictions import predict_table

    folder = copy_export(exported, tmp_path)
    record = json.loads((folder / "model.json").read_text())
    record.update(format=99, busflow_version="9.0.0")
    (folder / "model.json").write_text(json.dumps(record))
    with pytest.raises(ExportError, match=r"model.json: export format 99 \(written by 9.0.0\)"):
        predict_table([folder], [new_images])


def test_an_export_whose_parts_disagree_on_the_image_size_is_refused(
    exported, new_images, tmp_path
):
    from busflow.predict.predictions import predict_table

    folder = copy_export(exported, tmp_path)
    record = json.loads((folder / "model.json").read_text())
    record["input"]["shape"] = [64, 64, 1]
    (folder / "model.json").write_text(json.dumps(record))
    with pytest.raises(ExportError, match=r"takes \(32, 32, 1\) pixels but model.json says"):
        predict_table([folder], [new_images])


def test_a_folder_without_an_export_is_refused(tmp_path, new_images):
    from busflow.predict.predictions import predict_table

    with pytest.raises(ExportError, match="no exported model here"):
        predict_table([tmp_path], [new_images])
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(ExportError, match="export format None"):
        predict_table([tmp_path], [new_images])


def test_fold_exports_are_averaged_and_folds_of_two_runs_refused(demo_raw, new_images, tmp_path):
    from busflow.predict.predictions import predict_table

    folds = [export_model(tmp_path, demo_raw, "baseline", fold=k, folds=2) for k in (0, 1)]
    table = predict_table([tmp_path / "export"], [new_images]).set_index("image_id")
    both = table[["baseline_fold0_probability", "baseline_fold1_probability"]]
    np.testing.assert_allclose(table["baseline_probability"], both.mean(axis=1))
    assert not np.allclose(both.iloc[:, 0].dropna(), both.iloc[:, 1].dropna())
    other = json.loads((folds[1] / "model.json").read_text())
    other["training_data"]["run_fingerprint"] = "another run"
    (folds[1] / "model.json").write_text(json.dumps(other))
    with pytest.raises(ExportError, match="not as the folds of one run"):
        predict_table([tmp_path / "export"], [new_images])


def test_predict_set_names_are_checked_like_external_ones(cfg):
    from busflow.config.settings import check_external_sets

    cfg["predict"] = [{"name": "clinic", "path": "a"}, {"name": "clinic", "path": "b"}]
    with pytest.raises(ConfigError, match=r"predict\[1\].name 'clinic' is used by two sets"):
        check_external_sets(cfg)
    cfg["predict"] = [{"name": "my clinic", "path": "a"}]
    with pytest.raises(ConfigError, match="results/predictions/"):
        check_external_sets(cfg)


def test_a_mirrored_training_image_is_flagged_near(exported, demo_raw, tmp_path):
    """Flipping is a training augmentation: a training image's mirror was, in effect, trained
    on."""
    from busflow.predict.predictions import predict_table

    pixels = np.asarray(Image.open(demo_raw / "benign/benign_0002.png"))
    Image.fromarray(np.fliplr(pixels)).save(tmp_path / "mirrored.png")
    row = predict_table([exported], [tmp_path]).set_index("image_id").loc["mirrored.png"]
    assert (row["duplicate_of_training"], row["duplicate_kind"]) == ("benign/benign_0002", "near")


def sixteen_bit_scan(demo_raw: Path, path: Path) -> np.ndarray:
    """A demo image as a 16-bit grey PNG using a 12-bit range (as some scanners write);
    returns the 16-bit pixels."""
    pixels = np.asarray(Image.open(demo_raw / "malignant/malignant_0010.png"), np.uint16) * 16
    Image.fromarray(pixels).save(path)
    assert Image.open(path).mode == "I;16"
    return pixels


def test_a_16_bit_file_is_predicted_with_a_warning_that_it_was_stretched(
    exported, demo_raw, tmp_path
):
    from busflow.predict.predictions import predict_table

    sixteen_bit_scan(demo_raw, tmp_path / "deep.png")
    Image.open(demo_raw / "malignant/malignant_0010.png").save(tmp_path / "plain.png")
    table = predict_table([exported], [tmp_path]).set_index("image_id")
    assert table.loc["deep.png", "status"] == "ok"
    assert "16-bit" in table.loc["deep.png", "warning"]
    assert "stretched to 8 bits" in table.loc["deep.png", "warning"]
    assert table.loc["plain.png", "warning"] == ""


def test_model_json_and_readme_say_what_a_16_bit_file_becomes(exported, demo_raw, tmp_path):
    """The README's numpy lines for 16-bit files give busflow's pixels."""
    from busflow.data.images import decode_image

    record = json.loads((exported / "model.json").read_text())
    assert "min-max stretched to 8 bits per image" in record["input"]["high_bit_depth"]
    assert "16-bit" in record["input"]["pixels"]
    readme = (exported / "README.md").read_text()
    assert "8-bit" in readme and "16-bit files are stretched per image by busflow" in readme
    recipe = readme.split("```python\n")[2].split("```")[0]
    sixteen_bit_scan(demo_raw, tmp_path / "scan.png")
    namespace = {"np": np, "Image": Image}  # the first recipe's imports
    exec(recipe.replace('"scan.png"', repr(str(tmp_path / "scan.png"))), namespace)
    np.testing.assert_array_equal(namespace["stretched"], decode_image(tmp_path / "scan.png")[0])


@pytest.mark.parametrize("name, list_input", [("transfer", False), ("finetune", True)])
def test_every_saved_model_is_served_one_pixel_tensor(demo_raw, tmp_path, name, list_input):
    """The fine-tuned models (a functional model of one-element input and output lists) were
    served as serve([x]), the others as serve(x)."""
    import keras
    import tensorflow as tf

    folder = export_model(tmp_path, demo_raw, name=name, list_input=list_input)
    trained = keras.saving.load_model(tmp_path / f"{name}None.keras")
    pixels = np.random.default_rng(3).integers(0, 256, (3, SIZE, SIZE, 1), dtype=np.uint8)
    saved = tf.saved_model.load(str(folder / "saved_model"))  # kept: serve uses its variables
    served = saved.serve(pixels)
    assert served.shape == (3, 1)
    np.testing.assert_allclose(served.numpy(), trained.predict(pixels, verbose=0), atol=1e-5)
    note = json.loads((folder / "model.json").read_text())["exports"]["saved_model_note"]
    assert f"one uint8 tensor of pixels, shape (None, {SIZE}, {SIZE}, 1)" in note
    stock = keras.saving.load_model(folder / "model.keras")
    np.testing.assert_allclose(stock.predict(pixels, verbose=0), served.numpy(), atol=1e-5)


def test_the_onnx_file_reproduces_busflows_probabilities_in_onnx_runtime(
    tmp_path, demo_raw, new_images
):
    """model.onnx, with the export README's pixels and model.json's recalibration, gives
    busflow.predict's probabilities (the onnx extra is part of the test extra)."""
    import onnxruntime

    from busflow.predict.predictions import predict_table

    folder = export_model(tmp_path, demo_raw, name="finetune", list_input=True, onnx=True)
    record = json.loads((folder / "model.json").read_text())
    assert record["exports"]["onnx"] == "model.onnx"
    assert "ONNX Runtime gives the Keras model's probabilities" in record["exports"]["onnx_note"]
    assert "onnxruntime.InferenceSession" in (folder / "README.md").read_text()
    expected = predict_table([folder], [new_images]).set_index("image_id")["finetune_probability"]
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
    names = ["grey.png", "rgb_of_grey.png", "small.png", "copy_of_training.png"]
    grey = [
        Image.open(new_images / name).convert("L").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
        for name in names
    ]
    pixels = np.stack([np.asarray(g, np.uint8) for g in grey])[..., None]
    raw = session.run(None, {"pixels": pixels})[0][:, 0].astype(float)
    cal = record["recalibration"]
    p = np.clip(raw, 1e-7, 1 - 1e-7)
    served = 1 / (1 + np.exp(-(cal["scale"] * np.log(p / (1 - p)) + cal["shift"])))
    np.testing.assert_allclose(served, expected[names].to_numpy(float), rtol=0, atol=1e-5)


def test_without_the_exporter_model_json_says_why_no_onnx_was_written(monkeypatch, tmp_path):
    from busflow.predict import onnx_export

    monkeypatch.setitem(onnx_export.ONNX_EXPORTERS, "tensorflow", ("tf2onnx_not_installed",))
    record = onnx_export.onnx_export(None, tmp_path, wanted=True)
    assert record["onnx"] is None
    assert "tf2onnx_not_installed" in record["onnx_note"] and ".[onnx]" in record["onnx_note"]
    assert "jax2onnx" in onnx_export.not_installed_note("jax", ["jax2onnx"])
    assert onnx_export.onnx_export(None, tmp_path, wanted=False)["onnx_note"] == (
        "not exported: export.onnx is false"
    )


def test_the_record_says_what_the_vgg16_started_from(tmp_path, demo_raw, vgg16_weights_file):
    """A random-init VGG16 is never called ImageNet; a weights file is named with its sha256."""
    from busflow.hashing import file_sha256

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    random_init = export_model(tmp_path / "a", demo_raw)
    record = json.loads((random_init / "model.json").read_text())
    assert "ImageNet" not in record["model"]["title"]
    assert record["model"]["weights"]["start"].startswith("VGG16, random initialisation")
    assert "random initialisation" in (random_init / "README.md").read_text()
    from_file = export_model(tmp_path / "b", demo_raw, weights_file=vgg16_weights_file)
    weights = json.loads((from_file / "model.json").read_text())["model"]["weights"]
    assert weights["file"] == vgg16_weights_file.name
    assert weights["sha256"] == file_sha256(vgg16_weights_file)


def test_a_failing_onnx_export_is_recorded_and_leaves_the_rest_of_the_export(monkeypatch, tmp_path):
    import keras

    from busflow.predict import onnx_export

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])

    def refuse(*args, **kwargs):
        raise ValueError("dtype policy mixed_float16 is not supported\nmore detail")

    monkeypatch.setattr(model, "export", refuse)
    record = onnx_export.onnx_export(model, tmp_path, wanted=True)
    assert record == {
        "onnx": None,
        "onnx_note": "not exported: Keras' ONNX export on tensorflow failed: dtype policy "
        "mixed_float16 is not supported",
    }
    assert not (tmp_path / "model.onnx").exists()


def export_copy(exported: Path, folder: Path, name: str, fold=None, folds=1) -> Path:
    """A copy of an export, recorded as model ``name`` (fold ``fold`` of ``folds``)."""
    shutil.copytree(exported, folder)
    record = json.loads((folder / "model.json").read_text())
    record["model"].update(name=name, fold=fold, folds=folds)
    (folder / "model.json").write_text(json.dumps(record))
    return folder


def test_the_export_folder_holds_the_runs_models_and_predict_refuses_others_by_name(
    exported, tmp_path
):
    """Issue 35, 7: after models: [baseline], the earlier run's transfer export stayed in
    results/export and python -m busflow.predict results/export used it without a word."""
    from busflow.jobs.index_exports import index_exports_job
    from busflow.predict.predictions import load_exports

    root = tmp_path / "export"
    baseline = export_copy(exported, root / "baseline", "baseline")
    export_copy(exported, root / "transfer", "transfer")  # the earlier run's
    index_exports_job([baseline], root / "index.json")
    assert sorted(p.name for p in root.iterdir()) == ["baseline", "index.json"]
    assert [e.name for e in load_exports([root])] == ["baseline"]
    stray = export_copy(exported, root / "transfer", "transfer")  # copied in again
    with pytest.raises(ExportError, match=f"{stray} is not one of this run's exports"):
        load_exports([root])
    shutil.rmtree(stray)
    (baseline / "model.json").write_text((baseline / "model.json").read_text() + "\n")
    with pytest.raises(ExportError, match="index.json was written before .*baseline changed"):
        load_exports([root])
    assert [e.name for e in load_exports([baseline])] == ["baseline"]  # a folder by its path


def test_a_one_split_export_left_beside_the_folds_is_removed_or_refused(exported, tmp_path):
    """Issue 35, 7: evaluation.folds 1 -> 2 left the one-split export's files in
    results/export/baseline, above fold0/ and fold1/."""
    from busflow.jobs.index_exports import index_exports_job
    from busflow.predict.predictions import load_exports

    root = tmp_path / "export"
    export_copy(exported, root / "baseline", "baseline")
    folds = [
        export_copy(exported, root / "baseline" / f"fold{k}", "baseline", k, 2) for k in (0, 1)
    ]
    export_copy(exported, root / "baseline" / "fold2", "baseline", 2, 3)  # of folds: 3 before
    with pytest.raises(ExportError, match="more exports inside it"):
        load_exports([root / "baseline"])
    index_exports_job(folds, root / "index.json")
    assert sorted(p.name for p in (root / "baseline").iterdir()) == ["fold0", "fold1"]
    assert [e.fold for e in load_exports([root])] == [0, 1]
    assert [e.fold for e in load_exports([root / "baseline"])] == [0, 1]
