"""The workflow end to end on generated demo data, with real Snakemake, Keras and files."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from busflow.models.registry import model_names, model_spec

from workflow_helpers import REPO, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow
TRAINING_RULES = tuple(f"train_{model}" for model in model_names())


def test_dry_run_plans_a_training_job_per_registered_model_each_asking_for_a_gpu(tmp_path):
    result = snakemake(tmp_path, "-n")
    jobs = planned_jobs(result.stdout)
    assert all(jobs[rule] == 1 for rule in TRAINING_RULES)
    assert jobs["augment_shard"] == 4  # 2 training shards + val + test
    for rule in TRAINING_RULES:
        block = result.stdout.split(f"rule {rule}:")[1].split("\n\n")[0]
        assert re.search(r"resources: .*\bgpu=1\b", block), block


def test_models_selects_what_is_trained_and_tabulated_and_keeps_what_it_continues(tmp_path):
    overlay = write_config(tmp_path / "models.yaml", {"models": ["finetune"]})
    jobs = planned_jobs(snakemake(tmp_path, "-n", configfile=overlay).stdout)
    assert jobs["train_finetune"] == 1 and jobs["train_transfer"] == 1  # finetune continues it
    assert "train_baseline" not in jobs and "train_finetune45" not in jobs
    assert jobs["evaluate_model"] == 1
    assert jobs["export_models"] == 1 and jobs["index_exports"] == 1
    wrong = write_config(tmp_path / "wrong.yaml", {"models": ["finetune", "resnet"]})
    result = snakemake(tmp_path, "-n", configfile=wrong, check=False)
    assert (
        result.returncode != 0 and "models: resnet not registered" in result.stdout + result.stderr
    )


def test_paper_protocol_dry_run_validates_on_the_test_copies(tmp_path):
    """One split under the paper protocol: no val split, features of train and (leaky) test."""
    overlay = write_config(tmp_path / "paper.yaml", {"split": {"protocol": "paper"}})
    result = snakemake(tmp_path, "-n", configfile=overlay)
    jobs = planned_jobs(result.stdout)
    assert all(jobs[rule] == 1 for rule in TRAINING_RULES)
    assert jobs["extract_vgg16_features"] == 2
    assert (
        "results/features/test.npz" in result.stdout
        and "results/features/val.npz" not in result.stdout
    )


def venv_tool(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


def test_lint_and_snakefmt_are_clean():
    lint = snakemake(REPO, "--lint")
    assert "Congratulations, your workflow is in a good condition" in lint.stdout + lint.stderr
    fmt = subprocess.run(
        [venv_tool("snakefmt"), "--check", str(REPO)], capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stderr


def test_python_is_ruff_formatted_and_lint_clean():
    """make lint's ruff checks, in CI: formatting, pyflakes, import order, lines of at most 100."""
    for command in (["format", "--check", "."], ["check", "."]):
        result = subprocess.run(
            [venv_tool("ruff"), *command], capture_output=True, text=True, cwd=REPO
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def demo_run(tiny_run, tmp_path_factory):
    """A private copy of the shared tiny demo run (tests/conftest.py): the tests here add and
    break images, which the other users of that run must not see. Copying keeps every file's
    time and Snakemake's records, so the copy is a finished run."""
    workdir = tmp_path_factory.mktemp("demo") / "run"
    shutil.copytree(tiny_run("tensorflow"), workdir, symlinks=True)
    return workdir


def in_demo(demo_run, *args, **options):
    """Snakemake in the demo run's copy, with the tiny demo's config."""
    return snakemake(demo_run, *args, configfile=demo_run / "tiny.yaml", **options)


def test_demo_writes_every_output(demo_run):
    expected = [
        "results/manifest.csv",
        "results/split.csv",
        "results/qc/rejected.csv",
        "results/qc/conflicts.csv",
        "results/comparison.csv",
        "results/comparison.md",
        "results/figures/roc.png",
        "results/figures/confusion_matrices.png",
        "results/figures/calibration.png",
        "results/model_card.md",
        "results/model_card.html",
    ]
    for model in model_names():
        expected += [
            f"results/export/{model}/model.keras",
            f"results/export/{model}/model.json",
            f"results/models/{model}.keras",
            f"results/history/{model}.csv",
            f"results/eval/{model}/metrics.json",
            f"results/eval/{model}/predictions.csv",
            f"results/figures/training_{model}.png",
            f"results/operating_point/{model}.json",
        ]
    missing = [path for path in expected if not (demo_run / path).is_file()]
    assert not missing
    assert not list((demo_run / "results" / "models").glob("*.checkpoint"))


def test_every_keras_job_log_starts_with_its_device_and_metrics_record_it(demo_run):
    """Locally (no SLURM) on this CPU machine: no refusal, and each log says where it ran."""
    logs = [demo_run / "results" / "logs" / f"{rule}.log" for rule in TRAINING_RULES]
    logs += [
        *(demo_run / "results" / "logs" / "extract_vgg16_features").glob("*.log"),
        *(demo_run / "results" / "logs" / "evaluate_model").glob("*.log"),
    ]
    assert len(logs) == len(TRAINING_RULES) + 2 + len(TRAINING_RULES)
    for log in logs:
        first = log.read_text().splitlines()[0]
        assert (
            first.startswith("device: tensorflow ")
            and " on cpu " in first
            and "precision float32" in first
        ), (log, first)
        assert "SLURM" not in first
    for model in TRAINING_RULES:
        device = json.loads(
            (demo_run / f"results/eval/{model.split('_')[1]}/metrics.json").read_text()
        )["device"]
        assert device["training"].startswith("tensorflow ") and " on cpu " in device["training"]
        assert device["training_record"]["precision"] == "float32"


def test_baseline_learns_the_demo_on_the_leak_free_test_split(demo_run):
    metrics = json.loads((demo_run / "results/eval/baseline/metrics.json").read_text())
    assert metrics["protocol"] == "leak_free" and metrics["leaky"] is False
    # the tiny demo's test split holds 14 images: AUC moves in steps of about 0.02
    assert metrics["metrics"]["auc"]["value"] >= 0.8
    split = pd.read_csv(demo_run / "results/split.csv")
    predictions = pd.read_csv(demo_run / "results/eval/baseline/predictions.csv")
    assert set(predictions["image_id"]) == set(split.loc[split["split"] == "test", "image_id"])
    assert (predictions["copy_index"] == 0).all()


def test_comparison_has_this_runs_rows_and_the_published_ones(demo_run):
    table = pd.read_csv(demo_run / "results/comparison.csv")
    assert len(table) == len(model_names()) + 6  # and the paper's and Hadad et al.'s 3 rows each
    ours = table[table["source"] == "busflow (this run)"]
    assert ours["model"].tolist() == model_names()
    assert ours["weights"].tolist() == [
        "none (trained from scratch)" if not model_spec(m).pretrained else "none (random init)"
        for m in model_names()
    ]


def test_history_has_one_row_per_epoch_with_validation_metrics(demo_run):
    history = pd.read_csv(demo_run / "results/history/baseline.csv")
    assert history["epoch"].tolist() == list(range(1, len(history) + 1))
    assert {"loss", "accuracy", "auc", "val_loss", "val_accuracy", "val_auc"} <= set(
        history.columns
    )
    # The demo keeps the last epoch (keep_epoch: last, the paper's way), and the CSV says so.
    assert history["kept"].tolist() == [False] * (len(history) - 1) + [True]


def test_nothing_to_do_after_a_complete_run(demo_run):
    result = in_demo(demo_run, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_editing_figure_code_reruns_only_the_figure_rule(demo_run):
    figures = REPO / "busflow" / "report" / "figures.py"
    original = figures.read_bytes()
    stat = os.stat(figures)
    try:
        # A real edit: Snakemake ignores a bare mtime change when the content checksum is the same.
        figures.write_bytes(original + b"\n# edited by a test\n")
        jobs = planned_jobs(in_demo(demo_run, "-n").stdout)
    finally:
        figures.write_bytes(original)
        os.utime(figures, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert set(jobs) == {"plot_figures", "all"}


def test_deleting_a_demo_image_drops_it_from_the_manifest_and_writes_no_demo(demo_run):
    """Issue 35, 6: 'Nothing to be done', and the manifest and split kept the image. Once
    written, the demo folder is data like any other (rules/common.smk raw_images)."""
    image = demo_run / "resources/demo_data/benign/benign_0003.png"
    content, stat = image.read_bytes(), image.stat()
    image.unlink()
    try:
        jobs = planned_jobs(in_demo(demo_run, "-n", "results/split.csv").stdout)
    finally:
        image.write_bytes(content)
        os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert set(jobs) == {"build_manifest", "split_images"}
    nothing = in_demo(demo_run, "-n")
    assert "Nothing to be done" in nothing.stdout + nothing.stderr


def test_new_pixels_in_a_test_image_rerun_its_evaluation_and_no_training(demo_run):
    """Issue 35, 8: one test image's new pixels retrained all four models, whose train and val
    data came out byte-identical. The shards read their split's slice (rule split_views, a
    checkpoint): Snakemake skips the jobs whose slices came out the same."""
    from PIL import Image

    split = pd.read_csv(demo_run / "results/split.csv")
    test_id = split.loc[split["split"] == "test", "image_id"].iloc[0]
    image = demo_run / "resources/demo_data" / f"{test_id}.png"
    pixels = np.asarray(Image.open(image)).copy()
    pixels[:8, :8] = 255 - pixels[:8, :8]
    Image.fromarray(pixels).save(image)
    kept = [
        *(demo_run / "results/models").glob("*.keras"),
        *(demo_run / "results/history").glob("*.csv"),
        *(demo_run / "results/shards/train").glob("*.npz"),
        demo_run / "results/features/train.npz",
        demo_run / "results/features/val.npz",
        *(demo_run / "results/operating_point").glob("*.json"),
    ]
    redone = [
        demo_run / "results/shards/test/0.npz",
        demo_run / "results/eval/baseline/metrics.json",
    ]
    before = {path: path.stat().st_mtime_ns for path in kept + redone}
    targets = [str(p.relative_to(demo_run)) for p in kept + redone]
    in_demo(demo_run, "--cores", "2", *targets)
    assert {p: p.stat().st_mtime_ns for p in kept} == {p: before[p] for p in kept}
    assert all(p.stat().st_mtime_ns > before[p] for p in redone)
    nothing = in_demo(demo_run, "-n", *targets)
    assert "Nothing to be done" in nothing.stdout + nothing.stderr


def test_a_corrupt_new_image_stops_the_run_by_name_and_keeps_the_models(demo_run):
    raw = demo_run / "resources" / "demo_data"
    bad = raw / "benign" / "scan from new probe.png"
    models = {p: p.stat().st_mtime_ns for p in (demo_run / "results" / "models").glob("*.keras")}
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    try:
        result = in_demo(demo_run, "--cores", "2", check=False)
        log = (demo_run / "results/logs/build_manifest.log").read_text()
    finally:
        bad.unlink()
    assert result.returncode != 0
    assert str(bad.relative_to(demo_run)) in log and "on_bad_image: skip" in log
    assert {p: p.stat().st_mtime_ns for p in models} == models


def test_adding_an_image_reruns_from_the_manifest_and_moves_no_existing_image(demo_run):
    """Last in this module: it leaves the demo folder with two more images. One is a copy of a test
    image under a name that sorts first (it used to become its group's key and move the group)."""
    import numpy as np
    from PIL import Image

    from busflow.data.demo import render_lesion_image

    before = pd.read_csv(demo_run / "results/split.csv")
    pixels = render_lesion_image(np.random.default_rng(12345), "malignant", 128)
    Image.fromarray(pixels).save(demo_run / "resources/demo_data/malignant/malignant_new.png")
    test_id = before.loc[before["split"] == "test", "image_id"].iloc[0]
    label = test_id.split("/")[0]
    shutil.copy(
        demo_run / "resources/demo_data" / f"{test_id}.png",
        demo_run / "resources/demo_data" / label / "a_rescan.png",
    )
    jobs = planned_jobs(in_demo(demo_run, "-n").stdout)
    assert {
        "build_manifest",
        "split_images",
        "augment_shard",
        "train_baseline",
        "evaluate_model",
    } <= set(jobs)
    assert "generate_demo_data" not in jobs
    in_demo(demo_run, "--cores", "2", "results/split.csv")
    after = pd.read_csv(demo_run / "results/split.csv")
    assert len(after) == len(before) + 2
    added = after["image_id"].isin(["malignant/malignant_new", f"{label}/a_rescan"])
    pd.testing.assert_frame_equal(after[~added].reset_index(drop=True), before)
    assert after.set_index("image_id").loc[f"{label}/a_rescan", "split"] == "test"
    assert (demo_run / "split_record.csv").is_file()
