"""k-fold cross-validation and external validation, end to end with real Snakemake and Keras."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from busflow.models.registry import model_names

from workflow_helpers import REPO, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow
# The run trains two models (and transfer, which finetune continues): every model's fold jobs are
# the same rules, and each model costs the run about a minute here.
MODELS = ("baseline", "finetune")
TINY_TRAINING = {
    "baseline": {"epochs": 2, "batch_size": 20, "learning_rate": 0.001, "seed": 1},
    "transfer": {"epochs": 2, "batch_size": 20, "learning_rate": 0.001, "seed": 2},
    "finetune": {"epochs": 1, "batch_size": 20, "learning_rate": 0.001, "seed": 3},
}


def cv_config(workdir, folds, external=()):
    return write_config(
        workdir / "cv.yaml",
        {
            "data": {"raw": str(workdir / "raw"), "image_size": 32},
            "demo": {"generate": True, "n_per_class": 30, "size": 64},
            "augment": {"factor": 2, "shards": 2},
            "evaluation": {
                "folds": folds,
                "bootstrap": 50,
                "recalibration": "temperature",
                "operating_point": {"rule": "sensitivity", "target_sensitivity": 0.9},
            },
            "training": TINY_TRAINING,
            "models": list(MODELS),
            "external": list(external),
            "export": {"onnx": False},  # tiny_run tests the ONNX export
        },
    )


def test_every_fold_trains_every_registered_model_as_separate_gpu_jobs(tmp_path):
    config = yaml.safe_load(cv_config(tmp_path, folds=3).read_text())
    config["models"] = None  # every registered model
    result = snakemake(tmp_path, "-n", configfile=write_config(tmp_path / "all.yaml", config))
    jobs = planned_jobs(result.stdout)
    assert all(jobs[f"train_{model}"] == 3 for model in model_names())
    assert jobs["evaluate_model"] == 3 * len(model_names())
    assert jobs["summarise_folds"] == len(model_names())
    assert (
        jobs["augment_shard"] == 2 and jobs["extract_vgg16_features"] == 1
    )  # one pool for all folds
    for fold in range(3):
        assert f"results/folds/{fold}/models/finetune.keras" in result.stdout


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    """Two folds on 60 tiny demo images, with an external folder and
    an external CSV; about 2.5 min."""
    from busflow.data.demo import generate_demo_dataset

    workdir = tmp_path_factory.mktemp("cv")
    generate_demo_dataset(workdir / "hospital_b", n_per_class=10, size=64, seed=99)
    config = cv_config(
        workdir,
        folds=2,
        external=[
            {"name": "hospital_b", "path": str(workdir / "hospital_b")},
            {"name": "listed", "path": str(workdir / "listed.csv")},
        ],
    )
    # The CSV set: hospital_b's malignant images plus one image of the training data itself,
    # copied in once the first run has generated it. The CSV exists from the start: a missing
    # external CSV stops planning (busflow.data.formats.check_sources).
    rows = [
        f"hospital_b/malignant/{p.name},malignant"
        for p in sorted((workdir / "hospital_b/malignant").iterdir())
    ]
    (workdir / "listed.csv").write_text(
        "path,label\n" + "\n".join(rows + ["hospital_b_extra.png,benign"]) + "\n"
    )
    snakemake(workdir, "--cores", "2", "results/manifest.csv", configfile=config)
    shutil.copy(workdir / "raw/benign/benign_0004.png", workdir / "hospital_b_extra.png")
    snakemake(workdir, "--cores", "2", configfile=config)
    return workdir


def test_each_image_is_predicted_once_by_the_fold_that_did_not_train_on_it(cv_run):
    split = pd.read_csv(cv_run / "results/split.csv")
    for model in MODELS:
        predictions = pd.read_csv(cv_run / f"results/cv/{model}/predictions.csv")
        assert sorted(predictions["image_id"]) == sorted(split["image_id"].unique())
        tested_in = split[split["split"] == "test"].set_index("image_id")["fold"]
        assert (
            predictions.set_index("image_id")["fold"] == tested_in.loc[predictions["image_id"]]
        ).all()
        assert (predictions["copy_index"] == 0).all()


def test_the_table_reports_the_fold_mean_and_its_interval(cv_run):
    table = pd.read_csv(cv_run / "results/comparison.csv")
    ours = table[table["source"] == "busflow (this run)"].set_index("model")
    for model in MODELS:
        folds = [
            json.loads((cv_run / f"results/folds/{f}/eval/{model}/metrics.json").read_text())
            for f in range(2)
        ]
        assert np.isclose(
            ours.loc[model, "auc"], np.mean([m["metrics"]["auc"]["value"] for m in folds])
        )
        assert ours.loc[model, "evaluation"] == "2-fold CV" and ours.loc[model, "n"] == sum(
            m["n"] for m in folds
        )
        assert (
            ours.loc[model, "auc_ci_low"]
            <= ours.loc[model, "auc"]
            <= ours.loc[model, "auc_ci_high"]
        )


def test_each_external_set_gets_its_roc_and_calibration_figures(cv_run):
    from PIL import Image

    for name in ("hospital_b", "listed"):
        for figure in ("roc", "calibration"):
            path = cv_run / f"results/figures/external/{name}/{figure}.png"
            assert Image.open(path).size[0] > 300, path


def test_external_sets_get_a_row_per_model_and_training_duplicates_are_left_out(cv_run):
    table = pd.read_csv(cv_run / "results/comparison.csv")
    for name, n_images in (("hospital_b", 20), ("listed", 10)):
        rows = table[table["source"] == f"busflow (external: {name})"]
        assert rows["model"].tolist() == list(MODELS)
        assert (rows["n"] == n_images).all() and (
            rows["evaluation"] == "external set, 2 fold models"
        ).all()
    listed = json.loads((cv_run / "results/external/listed/eval/finetune/metrics.json").read_text())
    assert listed["n_in_training_left_out"] == 1
    manifest = pd.read_csv(cv_run / "results/external/listed/manifest.csv")
    assert manifest.loc[manifest["in_training"], "training_match"].tolist() == [
        "benign/benign_0004"
    ]


def test_every_row_reports_the_validation_chosen_operating_point_and_calibration(cv_run):
    table = pd.read_csv(cv_run / "results/comparison.csv")
    ours = table[table["source"].str.startswith("busflow")]
    assert len(ours) == 3 * len(MODELS)  # this run and two external sets, every model each
    assert ours["threshold"].str.endswith("(fold mean) (sensitivity 0.90 on val)").all()
    for column in ("sensitivity", "specificity", "ece", "brier"):
        assert ours[column].between(0, 1).all(), column
    markdown = (cv_run / "results/comparison.md").read_text()
    assert "| Threshold | Sensitivity (95% CI) | Specificity (95% CI) | ECE | Brier |" in markdown


def test_external_sets_use_each_fold_models_validation_threshold_unchanged(cv_run):
    for model in MODELS:
        chosen = [
            json.loads((cv_run / f"results/folds/{f}/operating_point/{model}.json").read_text())
            for f in range(2)
        ]
        assert all(c["operating_point"]["chosen_on"] == "validation" for c in chosen)
        assert all(c["recalibration"]["method"] == "temperature" for c in chosen)
        external = json.loads(
            (cv_run / f"results/external/hospital_b/eval/{model}/metrics.json").read_text()
        )
        assert external["operating_point"]["thresholds"] == [
            c["operating_point"]["threshold"] for c in chosen
        ]
        tested = [
            json.loads((cv_run / f"results/folds/{f}/eval/{model}/metrics.json").read_text())
            for f in range(2)
        ]
        assert [t["threshold"] for t in tested] == [
            c["operating_point"]["threshold"] for c in chosen
        ]


def test_a_bad_external_csv_stops_by_name_and_keeps_the_trained_models(cv_run):
    csv = cv_run / "listed.csv"
    original = csv.read_text()
    models = {p: p.stat().st_mtime_ns for p in (cv_run / "results/folds").glob("*/models/*.keras")}
    csv.write_text(original + "hospital_b/benign/benign_0001.png,normal\n")
    try:
        result = snakemake(cv_run, "--cores", "2", configfile=cv_run / "cv.yaml", check=False)
        log = (cv_run / "results/logs/build_external_manifest/listed.log").read_text()
    finally:
        csv.write_text(original)
    assert result.returncode != 0
    assert "listed.csv, line 13: label 'normal'" in log
    assert {p: p.stat().st_mtime_ns for p in models} == models


def test_test_time_views_rerun_only_evaluation_and_average_the_models_predictions(cv_run, tmp_path):
    """Turning tta_copies on re-runs evaluation and what reads it, never training; each test image's
    probability is then the fold model's mean over the image and its views. (One model is enough
    to show it, and each model's evaluation jobs cost a minute here.)"""
    import keras

    import busflow.models.builders  # noqa: F401  (registers the custom layers the saved model uses)
    from busflow.augment.shards import load_shards
    from busflow.evaluate.tta import tta_settings, views
    from busflow.split.folds import select_samples

    workdir = tmp_path / "cv"
    shutil.copytree(cv_run, workdir, symlinks=True)
    config = yaml.safe_load((workdir / "cv.yaml").read_text())
    config["evaluation"]["tta_copies"] = 2
    config["models"] = ["finetune"]
    config_file = write_config(workdir / "cv.yaml", config)
    jobs = planned_jobs(snakemake(workdir, "-n", configfile=config_file).stdout)
    assert (
        jobs["evaluate_model"] == 2  # 2 folds
        and jobs["evaluate_external"] == 2
        and jobs["summarise_folds"] == 1
    )
    assert not {
        *(f"train_{m}" for m in model_names()),
        "extract_vgg16_features",
        "augment_shard",
    } & set(jobs)

    before = pd.read_csv(workdir / "results/folds/1/eval/finetune/predictions.csv")
    snakemake(workdir, "--cores", "2", configfile=config_file)
    after = pd.read_csv(workdir / "results/folds/1/eval/finetune/predictions.csv")
    assert (after["image_id"] == before["image_id"]).all() and not np.allclose(
        after["probability"], before["probability"]
    )

    split = pd.read_csv(workdir / "results/split.csv", keep_default_na=False)
    pool = load_shards(
        sorted((workdir / "results/shards/pool").glob("*.npz"), key=lambda p: int(p.stem))
    )
    test = select_samples(
        pool,
        split,
        1,
        "test",
        {"protocol": "leak_free", "keep_original": True, "seed": 42, "folds": 2},
    )
    tta = tta_settings(
        2, yaml.safe_load((REPO / "config/config.yaml").read_text())["augment"]
    )  # cv.yaml keeps its augment
    stack = views(test["images"], test["image_ids"], test["copy_index"], tta)
    model = keras.models.load_model(workdir / "results/folds/1/models/finetune.keras")
    expected = model.predict(stack[..., None], verbose=0).reshape(-1, 3).mean(axis=1)
    from busflow.evaluate.calibration import (
        Recalibration,
    )  # the fold's validation-fitted map, applied after the mean

    chosen = json.loads((workdir / "results/folds/1/operating_point/finetune.json").read_text())
    expected = Recalibration.from_record(chosen["recalibration"]).apply(expected)
    by_id = dict(zip(after["image_id"], after["probability"]))
    np.testing.assert_allclose(
        [by_id[i] for i in test["image_ids"]], expected, rtol=1e-4, atol=1e-5
    )

    table = pd.read_csv(workdir / "results/comparison.csv")
    ours = table[table["source"].str.startswith("busflow")]
    views = ours["evaluation"].str.endswith("mean of 3 test-time views")
    assert views.all() and len(ours) == 3 and set(ours["model"]) == {"finetune"}


def test_an_experiment_overlay_retrains_on_a_fold_and_scores_only_its_validation_images(cv_run):
    import sys

    sys.path.insert(0, str(REPO / "bench"))
    from experiment import load_config, run_experiment

    saved = {p: p.stat().st_mtime_ns for p in (cv_run / "results/folds").glob("*/models/*.keras")}
    config = load_config([cv_run / "cv.yaml"], {"training": {"transfer": {"epochs": 1}}})
    record = run_experiment(cv_run, config, ["transfer", "finetune"], "one-epoch-head", folds=[0])

    history = pd.read_csv(cv_run / "experiments/one-epoch-head/fold0/transfer.csv")
    assert len(history) == 1  # the overlay, not the run's 2 epochs
    split = pd.read_csv(cv_run / "results/split.csv")
    n_val = ((split["fold"] == 0) & (split["split"] == "val")).sum()
    for model in ("transfer", "finetune"):
        (row,) = record["per_fold"][model]
        assert row["fold"] == 0 and row["n"] == n_val and 0 <= row["auc"] <= 1
    assert {p: p.stat().st_mtime_ns for p in saved} == saved  # the run's own models untouched
