"""Config checks the schema cannot express."""

import copy
import re

import pytest
import yaml

from busflow.config.settings import (
    check_config_keys,
    check_epoch_selection,
    check_external_sets,
    check_model_only_keys,
    check_split_record,
)
from busflow.errors import ConfigError

from workflow_helpers import REPO, snakemake, write_config


def demo_config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_best_epoch_selection_is_allowed_leak_free():
    config = demo_config()
    config["training"]["transfer"]["keep_epoch"] = "best_val_auc"
    check_epoch_selection(config)


def test_paper_protocol_refuses_epoch_selection_on_its_test_copies():
    config = demo_config()
    config["split"]["protocol"] = "paper"
    check_epoch_selection(config)  # keep_epoch defaults to last
    chosen = copy.deepcopy(config)
    chosen["training"]["finetune"]["keep_epoch"] = "best_val_loss"
    with pytest.raises(
        ConfigError, match="training.finetune.keep_epoch: best_val_loss with split.protocol: paper"
    ):
        check_epoch_selection(chosen)


@pytest.mark.workflow
def test_dry_run_stops_on_the_inconsistent_setting_and_names_it(tmp_path):
    overlay = write_config(
        tmp_path / "overlay.yaml",
        {"split": {"protocol": "paper"}, "training": {"transfer": {"keep_epoch": "best_val_auc"}}},
    )
    result = snakemake(tmp_path, "-n", configfile=overlay, check=False)
    assert result.returncode != 0
    assert (
        "training.transfer.keep_epoch: best_val_auc with split.protocol: paper"
        in result.stdout + result.stderr
    )
    assert not (tmp_path / "results").exists()


SHIPPED_OVERLAYS = [
    "paper.yaml",
    "paper_protocol.yaml",
    "one_split.yaml",
    "busi_cpu_224.yaml",
    "busi_reduced_cpu.yaml",
]


def merged_config(*names) -> dict:
    """config/config.yaml with overlays merged over it, the way snakemake merges --configfile."""
    from snakemake.utils import update_config

    config = demo_config()
    for name in names:
        update_config(config, yaml.safe_load((REPO / "config" / name).read_text()))
    return config


def validate(config: dict) -> None:
    from snakemake.utils import validate as snakemake_validate

    snakemake_validate(copy.deepcopy(config), str(REPO / "config" / "schema.yaml"))


@pytest.mark.parametrize("overlay", SHIPPED_OVERLAYS)
def test_every_shipped_overlay_validates_over_the_paper_config(overlay):
    validate(merged_config("paper.yaml", overlay))


def test_a_misspelt_training_key_in_an_overlay_is_refused():
    from snakemake.exceptions import WorkflowError

    config = merged_config("paper.yaml", "busi_cpu_224.yaml")
    config["training"]["finetune"]["head_epoch"] = 3
    with pytest.raises(WorkflowError, match="head_epoch"):
        validate(config)


@pytest.mark.parametrize(
    "where, key, named, closest",
    [
        ((), "evalution", "evalution", "evaluation"),
        (("data",), "preproces", "data.preproces", "preprocess"),
        (("training", "finetune"), "head_epoch", "training.finetune.head_epoch", "head_epochs"),
        (("augment", "transforms"), "zooom", "augment.transforms.zooom", "zoom"),
        (("external", 0), "pth", "external[0].pth", "path"),
        (("data", "raw", 1), "mask", "data.raw[1].mask", "masks"),
    ],
)
def test_an_unknown_key_is_named_with_its_section_and_the_closest_valid_one(
    where, key, named, closest
):
    """A typo printed the right first line, then hundreds of lines of schema dump."""
    config = merged_config("paper.yaml", "busi_cpu_224.yaml")
    config["external"] = [{"name": "b", "path": "b.csv"}]
    config["data"]["raw"] = [{"name": "north", "path": "n"}, {"name": "south", "path": "s"}]
    node = config
    for part in where:
        node = node[part]
    node[key] = 1
    with pytest.raises(ConfigError) as error:
        check_config_keys(config)
    message = str(error.value)
    assert message.startswith(f"{named}: unknown key")
    assert f"did you mean '{closest}'?" in message
    valid = message.split("valid keys: ")[1].removesuffix(". Fix the spelling, or remove the key.")
    assert closest in valid.split(", ")
    assert len(message.splitlines()) == 1


def test_an_unknown_key_far_from_any_lists_the_valid_ones_and_known_keys_pass():
    config = demo_config()
    check_config_keys(config)
    for overlay in SHIPPED_OVERLAYS:
        check_config_keys(merged_config("paper.yaml", overlay))
    config["split"]["xyzzy"] = 0
    with pytest.raises(
        ConfigError, match=r"split.xyzzy: unknown key in section split; its valid keys: protocol,"
    ):
        check_config_keys(config)


def test_head_epochs_is_accepted_only_under_finetune():
    config = merged_config("paper.yaml", "busi_cpu_224.yaml")
    check_model_only_keys(config)  # finetune.head_epochs: 3
    config["training"]["transfer"]["head_epochs"] = 3
    with pytest.raises(ConfigError, match="training.transfer.head_epochs is read only by finetune"):
        check_model_only_keys(config)


@pytest.mark.workflow
def test_dry_run_stops_on_head_epochs_outside_finetune_and_names_it(tmp_path):
    overlay = write_config(
        tmp_path / "overlay.yaml", {"training": {"baseline": {"head_epochs": 2}}}
    )
    result = snakemake(tmp_path, "-n", configfile=overlay, check=False)
    assert result.returncode != 0
    assert "training.baseline.head_epochs is read only by finetune" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def validated(config):
    """The config after the schema's validation (what rules/common.smk does first)."""
    from snakemake.utils import validate

    validate(config, str(REPO / "config" / "schema.yaml"))
    return config


@pytest.mark.parametrize("name", ["..", ".", "a/b", "hospital.b", "-rf"])
def test_an_external_set_name_that_is_not_a_plain_identifier_is_refused(name):
    """'..' wrote the external manifest over results/manifest.csv."""
    config = demo_config()
    config["external"] = [{"name": name, "path": "set.csv"}]
    with pytest.raises(ConfigError, match=f"external\\[0\\].name '{re.escape(name)}'"):
        check_external_sets(config)
    with pytest.raises(Exception, match="does not match"):
        validated(config)


def test_two_external_sets_with_one_name_are_refused():
    config = demo_config()
    config["external"] = [
        {"name": "hospital_b", "path": "a.csv"},
        {"name": "hospital_b", "path": "b.csv"},
    ]
    validated(config)
    with pytest.raises(ConfigError, match="external\\[1\\].name 'hospital_b' is used by two"):
        check_external_sets(config)


def test_a_predict_set_whose_path_is_missing_is_refused_at_planning(tmp_path):
    """It passed the dry run and failed in the predict job, a traceback in its log."""
    (tmp_path / "scan.png").write_bytes(b"")
    (tmp_path / "list.csv").write_text("path\nscan.png\n")
    config = demo_config()
    config["predict"] = [
        {"name": "folder", "path": str(tmp_path)},
        {"name": "file", "path": str(tmp_path / "scan.png")},
        {"name": "listing", "path": str(tmp_path / "list.csv")},
    ]
    check_external_sets(validated(config))
    config["predict"].append({"name": "clinic_b", "path": str(tmp_path / "gone" / "images")})
    with pytest.raises(ConfigError) as error:
        check_external_sets(config)
    message = str(error.value)
    assert f"predict[3] (clinic_b): {tmp_path / 'gone' / 'images'}: no such file or folder" in (
        message
    )
    assert "Fix predict[3].path" in message


@pytest.mark.workflow
def test_dry_run_stops_on_a_missing_predict_path_and_names_it(tmp_path):
    overlay = write_config(
        tmp_path / "overlay.yaml", {"predict": [{"name": "clinic", "path": "no/such/folder"}]}
    )
    result = snakemake(tmp_path, "-n", configfile=overlay, check=False)
    assert result.returncode != 0
    assert "predict[0] (clinic): no/such/folder: no such file or folder" in (
        result.stdout + result.stderr
    )
    assert not (tmp_path / "results").exists()


def test_a_class_listed_twice_is_refused_by_the_schema():
    config = demo_config()
    config["data"]["classes"] = ["benign", "benign"]
    with pytest.raises(Exception, match="non-unique|unique"):
        validated(config)


@pytest.mark.parametrize("record", ["results/split_record.csv", "./results/qc/record.csv"])
def test_a_split_record_inside_results_is_refused(record):
    config = demo_config()
    config["split"]["record"] = record
    with pytest.raises(ConfigError, match="split.record: .* is inside results/"):
        check_split_record(config)
    config["split"]["record"] = "records/split.csv"
    check_split_record(config)
