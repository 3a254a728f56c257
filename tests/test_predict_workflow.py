"""The workflow's exports, model card and predict rule, on the shared tiny demo run (TensorFlow)."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from busflow.models.registry import model_names

from workflow_helpers import planned_jobs, snakemake

pytestmark = pytest.mark.workflow
PREDICT = "predict=[{name: clinic, path: clinic}]"


def in_run(run, *args, **options):
    """Snakemake in the shared tiny run, with its config."""
    return snakemake(run, *args, configfile=run / "tiny.yaml", **options)


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run("tensorflow")


@pytest.fixture(scope="module")
def clinic(run):
    """New images in the run folder: a test image of the run, a training image, a re-encoded
    JPEG of one, and a file that is not an image."""
    split = pd.read_csv(run / "results/split.csv")
    manifest = pd.read_csv(run / "results/manifest.csv").set_index("image_id")
    manifest["path"] = [str(run / p) for p in manifest["path"]]  # relative to the run folder
    test_id = split[split["split"] == "test"]["image_id"].iloc[0]
    train_id = split[split["split"] == "train"]["image_id"].iloc[0]
    folder = run / "clinic"
    folder.mkdir(exist_ok=True)
    shutil.copy(manifest.loc[test_id, "path"], folder / "new_patient.png")
    shutil.copy(manifest.loc[train_id, "path"], folder / "seen_before.png")
    Image.open(manifest.loc[train_id, "path"]).save(folder / "seen_before.jpg", quality=90)
    (folder / "scan.dcm").write_bytes(b"DICM not decoded here")
    return {"folder": folder, "train_id": train_id}


@pytest.fixture(scope="module")
def predictions(run, clinic):
    plan = planned_jobs(
        in_run(run, "results/predictions/clinic.csv", "-n", "--config", PREDICT).stdout
    )
    in_run(run, "results/predictions/clinic.csv", "--cores", "2", "--config", PREDICT)
    table = pd.read_csv(run / "results/predictions/clinic.csv", keep_default_na=False)
    return {"plan": plan, "table": table.set_index("image_id")}


def test_every_model_is_exported_with_its_record(run):
    for model in model_names():
        folder = run / "results/export" / model
        record = json.loads((folder / "model.json").read_text())
        operating_point = json.loads((run / f"results/operating_point/{model}.json").read_text())
        assert record["operating_point"] == operating_point["operating_point"]
        assert record["input"]["shape"] == [64, 64, 1]
        assert record["backend"]["name"] == "tensorflow"
        assert record["exports"]["saved_model"] == "saved_model"
        assert (folder / "saved_model" / "saved_model.pb").is_file()


def test_the_saved_model_gives_the_keras_models_probabilities(run):
    import keras
    import tensorflow as tf

    folder = run / "results/export/transfer"
    pixels = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 1), dtype=np.uint8)
    saved = tf.saved_model.load(str(folder / "saved_model"))  # kept: serve uses its variables
    served = saved.serve(pixels).numpy()
    model = keras.saving.load_model(folder / "model.keras")
    np.testing.assert_allclose(served, model.predict(pixels, verbose=0), atol=1e-5)


def test_each_models_onnx_file_gives_busflows_probabilities_in_onnx_runtime(run, predictions):
    """The tiny run's model.onnx files (TensorFlow, tf2onnx) reproduce busflow.predict's
    probabilities to 1e-5, with model.json's recalibration and the export README's pixels."""
    import onnxruntime

    table = predictions["table"]
    names = ["new_patient.png", "seen_before.png"]
    for model in model_names():
        folder = run / "results/export" / model
        record = json.loads((folder / "model.json").read_text())
        assert record["exports"]["onnx"] == "model.onnx", record["exports"]["onnx_note"]
        size = record["input"]["shape"][0]
        grey = [
            Image.open(run / "clinic" / name).convert("L").resize((size, size), Image.BILINEAR)
            for name in names
        ]
        session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
        raw = session.run(None, {"pixels": np.stack(grey)[..., None]})[0][:, 0].astype(float)
        cal = record["recalibration"]
        if cal["method"] != "none":
            p = np.clip(raw, 1e-7, 1 - 1e-7)
            raw = 1 / (1 + np.exp(-(cal["scale"] * np.log(p / (1 - p)) + cal["shift"])))
        expected = table.loc[names, f"{model}_probability"].astype(float).to_numpy()
        np.testing.assert_allclose(raw, expected, rtol=0, atol=1e-5, err_msg=model)


def test_the_model_card_is_honest_about_use_protocol_results_and_other_hospitals(run):
    card = (run / "results/model_card.md").read_text()
    comparison = pd.read_csv(run / "results/comparison.csv")
    ours = comparison[comparison["source"] == "busflow (this run)"]
    assert "research only" in card and "not for diagnosis" in card
    assert "leak_free: split before augmentation" in card
    assert "This run had no external set" in card and "0.736" in card
    for row in ours.itertuples():
        assert (
            f"| {row.model} | test split | {int(row.n)} | {row.auc:.3f} ({row.auc_ci_low:.3f}"
            in card
        )
    assert "## Operating point" in card and "## Provenance" in card
    html = (run / "results/model_card.html").read_text()
    assert "<strong>Intended use</strong>" in html and "<table>" in html


def test_predict_runs_only_the_predict_job_and_lists_every_file(predictions, clinic):
    assert predictions["plan"] == {"predict_images": 1}
    table = predictions["table"]
    assert set(table.index) == {"new_patient.png", "seen_before.png", "seen_before.jpg", "scan.dcm"}
    assert table.loc["scan.dcm", "status"] == "failed"
    assert "unsupported format '.dcm'" in table.loc["scan.dcm", "reason"]
    for model in model_names():
        ok = table[table["status"] == "ok"]
        probabilities = ok[f"{model}_probability"].astype(float)
        assert probabilities.between(0, 1).all()
        decided = np.where(
            probabilities >= ok[f"{model}_threshold"].astype(float), "malignant", "benign"
        )
        assert list(ok[f"{model}_decision"]) == list(decided)


def test_predict_flags_training_copies_and_not_the_runs_test_images(predictions, clinic):
    table = predictions["table"]
    assert table.loc["seen_before.png", "duplicate_kind"] == "exact"
    assert table.loc["seen_before.jpg", "duplicate_of_training"] == clinic["train_id"]
    assert table.loc["new_patient.png", "duplicate_of_training"] == ""


def test_the_command_line_gives_the_rules_numbers(run, clinic, predictions, tmp_path):
    out = tmp_path / "cli.csv"
    result = subprocess.run(
        [sys.executable, "-m", "busflow.predict", "results/export", "clinic", "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=run,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    cli = pd.read_csv(out, keep_default_na=False).set_index("image_id")
    rule = predictions["table"]
    assert list(cli.columns) == list(rule.columns)
    for model in model_names():
        column = f"{model}_probability"
        np.testing.assert_allclose(
            pd.to_numeric(cli[column].replace("", np.nan)),
            pd.to_numeric(rule.loc[cli.index, column].replace("", np.nan)),
            atol=1e-6,
        )


def test_a_changed_image_reruns_only_its_predictions(run, clinic, predictions):
    image = clinic["folder"] / "new_patient.png"
    pixels = np.asarray(Image.open(image)).copy()
    pixels[:4] = 255
    Image.fromarray(pixels).save(image)
    plan = planned_jobs(
        in_run(run, "results/predictions/clinic.csv", "-n", "--config", PREDICT).stdout
    )
    assert plan == {"predict_images": 1}
