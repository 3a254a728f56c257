"""Hard inputs, round 4 (issue 35): python -m busflow.predict on damaged exports, outputs that
would land on an input or nowhere, repeated and looping paths, one fold given alone, two models on
one command line, a wrong --backend and its --help. Each case: a clear error that names the file
or option and the fix, before any work, or a correct table with a note."""

import json
import os
import shutil

import pandas as pd
import pytest
from test_predict import SIZE, export_model

from busflow.errors import ExportError


@pytest.fixture(scope="module")
def exports(tmp_path_factory, demo_raw):
    """One run's exports: transfer (one split), and baseline's two folds (k-fold)."""
    tmp = tmp_path_factory.mktemp("run")
    export_model(tmp, demo_raw)
    for k in (0, 1):
        export_model(tmp, demo_raw, "baseline", fold=k, folds=2)
    return tmp / "export"


@pytest.fixture(scope="module")
def other_run(tmp_path_factory, demo_raw):
    """An export from another run, trained at another image size."""
    return export_model(tmp_path_factory.mktemp("other"), demo_raw, "finetune", size=2 * SIZE)


@pytest.fixture
def clinic(tmp_path, demo_raw):
    """A folder of two scans."""
    folder = tmp_path / "clinic"
    folder.mkdir()
    shutil.copy(demo_raw / "malignant/malignant_0010.png", folder / "a.png")
    shutil.copy(demo_raw / "benign/benign_0011.png", folder / "b.png")
    return folder


@pytest.fixture
def no_image_decoded(monkeypatch):
    """Fail the test if any image is decoded: the error must come before the work."""

    def refuse(*args, **kwargs):
        raise AssertionError("an image was decoded before the error")

    monkeypatch.setattr("busflow.predict.predictions.read_new_image", refuse)


@pytest.fixture
def no_prediction(monkeypatch):
    """Fail the test if the command line starts predicting."""

    def refuse(*args, **kwargs):
        raise AssertionError("predict_table ran before the error")

    monkeypatch.setattr("busflow.predict.cli.predict_table", refuse)


def copy_export(folder, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def predict(*args, **kwargs) -> pd.DataFrame:
    from busflow.predict.predictions import predict_table

    return predict_table(*args, **kwargs)


def cli(*argv) -> int:
    from busflow.predict.cli import main

    return main([str(a) for a in argv])


# 1: a damaged model.keras


@pytest.mark.parametrize("keep", [0, 100_000])
def test_a_truncated_model_file_is_refused_as_damaged(
    exports, clinic, tmp_path, keep, no_image_decoded
):
    folder = copy_export(exports / "transfer", tmp_path)
    model_file = folder / "model.keras"
    model_file.write_bytes(model_file.read_bytes()[:keep])
    with pytest.raises(ExportError) as error:
        predict([folder], [clinic])
    message = str(error.value)
    assert str(model_file) in message and "damaged" in message
    assert "export the model again" in message.lower()
    assert "not found" not in message.lower()


# 2: model.json without what predict needs


def test_a_model_record_without_the_keys_predict_needs_is_refused_before_any_image(
    exports, clinic, tmp_path, no_image_decoded
):
    folder = copy_export(exports / "transfer", tmp_path)
    record = json.loads((folder / "model.json").read_text())
    del record["operating_point"], record["recalibration"]["scale"]
    (folder / "model.json").write_text(json.dumps(record))
    with pytest.raises(ExportError) as error:
        predict([folder], [clinic])
    message = str(error.value)
    assert str(folder / "model.json") in message
    assert "operating_point" in message and "recalibration.scale" in message
    assert "training_data" not in message  # only what is missing is named


def test_every_key_predict_reads_is_checked(exports, tmp_path):
    from busflow.predict.export import REQUIRED_KEYS, read_export

    for key in REQUIRED_KEYS:
        folder = tmp_path / key
        folder.mkdir()  # model.json alone: the record is checked first
        shutil.copy(exports / "baseline/fold0/model.json", folder)
        record = json.loads((folder / "model.json").read_text())
        *parents, last = key.split(".")
        node = record
        for part in parents:
            node = node[part]
        del node[last]
        (folder / "model.json").write_text(json.dumps(record))
        with pytest.raises(ExportError, match=f"missing .*{key}"):
            read_export(folder)


# 3, 4, 14: where -o writes


def test_an_output_in_a_missing_folder_is_refused_before_any_work(
    exports, clinic, tmp_path, capsys, no_prediction
):
    missing = tmp_path / "not_made"
    assert cli(exports, clinic, "-o", missing / "out.csv") == 2
    error = capsys.readouterr().err
    assert f"{missing}" in error and "does not exist" in error
    assert not missing.exists()


def csv_of_paths(clinic):
    listing = clinic.parent / "list.csv"
    listing.write_text("path\nclinic/a.png\n")
    return listing


@pytest.mark.parametrize(
    "sources, output",
    [
        (lambda c: [c / "a.png"], lambda c: c / "a.png"),  # an image file given
        (lambda c: [csv_of_paths(c)], lambda c: c.parent / "list.csv"),  # the CSV of paths
        (lambda c: [csv_of_paths(c)], lambda c: c / "a.png"),  # a file the CSV lists
        (lambda c: [c], lambda c: c / "b.png"),  # a file inside a given folder
        (lambda c: [c / "a.png", c], lambda c: c / "sub/../a.png"),  # the same, spelt otherwise
    ],
)
def test_an_output_onto_an_input_is_refused_before_any_work(
    exports, clinic, sources, output, capsys, no_prediction
):
    (clinic / "sub").mkdir()
    given = sources(clinic)
    target = output(clinic)
    before = open(target, "rb").read()
    assert cli(exports, *given, "-o", target) == 2
    error = capsys.readouterr().err
    assert str(target) in error and "input" in error
    assert open(target, "rb").read() == before


def test_an_output_inside_the_input_folder_is_not_predicted_by_the_next_run(
    exports, clinic, capsys
):
    out = clinic / "predictions.csv"
    assert cli(exports / "transfer", clinic, "-o", out) == 0
    first = pd.read_csv(out, keep_default_na=False)
    assert cli(exports / "transfer", clinic, "-o", out) == 0
    second = pd.read_csv(out, keep_default_na=False)
    assert list(second["image_id"]) == ["a.png", "b.png"] == list(first["image_id"])
    assert (second["status"] == "ok").all()


# 10: one fold of a k-fold export


def test_one_fold_given_alone_is_predicted_with_a_warning(exports, clinic, capsys):
    table = predict([exports / "baseline/fold0"], [clinic])
    error = capsys.readouterr().err
    assert "fold 0 of 2" in error and str(exports / "baseline") in error
    assert table["warning"].str.contains("fold 0 of 2").all()
    both = predict([exports / "baseline"], [clinic])
    assert "fold" not in capsys.readouterr().err
    assert (both["warning"] == "").all()


# 12: two model folders on one command line


def test_a_second_model_folder_among_the_images_is_refused_with_the_syntax(
    exports, other_run, clinic, capsys, no_prediction
):
    assert cli(exports / "transfer", other_run, clinic) == 2
    error = capsys.readouterr().err
    assert f"{other_run}: an exported model" in error and "-m" in error


def test_several_model_folders_are_given_with_m_and_other_sizes_are_noted(
    exports, other_run, clinic, tmp_path, capsys
):
    out = tmp_path / "out.csv"
    assert cli("-m", exports / "transfer", "--model", other_run, clinic, "-o", out) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert len(table) == 2 and (table["status"] == "ok").all()
    assert {"transfer_probability", "finetune_probability"} <= set(table.columns)
    error = capsys.readouterr().err
    assert f"different image sizes ({SIZE}, {2 * SIZE})" in error
    assert cli("-m", exports / "transfer", clinic, "-o", out) == 0
    assert "image sizes" not in capsys.readouterr().err


# 13: one file named several times


def test_a_file_named_several_times_is_predicted_once(exports, clinic, capsys):
    (clinic / "sub").mkdir()
    table = predict(
        [exports / "transfer"],
        [clinic / "a.png", clinic / "a.png", clinic / "sub/../a.png", clinic],
    )
    assert list(table["image_id"]) == ["a.png", "b.png"]
    assert list(table["path"]) == [str(clinic / "a.png"), str(clinic / "b.png")]
    assert "3 entries named a file already listed" in capsys.readouterr().err


# 15: links that lead nowhere


def test_symlink_loops_and_broken_links_in_a_folder_are_named(exports, clinic):
    os.symlink("..", clinic / "up")  # a folder link back to its own folder's parent
    os.symlink("loop_b", clinic / "loop_a")
    os.symlink("loop_a", clinic / "loop_b")
    os.symlink("gone.png", clinic / "broken.png")
    table = predict([exports / "transfer"], [clinic]).set_index("image_id")
    reasons = table["reason"]
    assert reasons["up"].startswith("a symlink loop")
    assert reasons["loop_a"].startswith("a symlink loop")
    assert reasons["broken.png"].startswith("a broken link")
    assert not reasons.str.contains("no extension").any()
    assert table.loc["a.png", "status"] == "ok"


# 20: the command line's --backend and --help


def test_an_invalid_backend_names_the_flag_and_the_choices(exports, clinic, capsys):
    with pytest.raises(SystemExit) as stop:
        cli(exports, clinic, "--backend", "foo")
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert "--backend" in error and "training.backend" not in error
    assert all(name in error for name in ("tensorflow", "jax", "torch"))


def test_a_backend_not_installed_names_the_flag(monkeypatch):
    from busflow.errors import ConfigError
    from busflow.runtime import backends
    from busflow.runtime.start import select_backend

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setitem(backends.BACKEND_PACKAGES, "torch", "torch_not_installed_here")
    with pytest.raises(ConfigError, match="--backend 'torch' is not installed") as error:
        select_backend("torch", keras_job=True, setting="--backend")
    assert "training.backend" not in str(error.value)


def test_help_describes_the_command_its_columns_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as stop:
        cli("--help")
    assert stop.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    for words in (
        "the decision at each model's validation-chosen operating point",
        "-o OUTPUT",
        "-m MODEL_DIR",
        "--whole-image",
        "<model>_probability",
        "duplicate_of_training",
        "Exit codes: 0",
        "2 a busflow error",
    ):
        assert words in shown, words
