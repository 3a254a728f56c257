"""Typed settings: their fields are the schema's keys, and their defaults the schema's."""

from dataclasses import fields
from pathlib import Path

import pytest

from busflow.augment.scanner import ScannerAugment
from busflow.config.schema_docs import render
from busflow.config.sections import (
    SCHEMA_FILE,
    AugmentSettings,
    DataSettings,
    EvaluationSettings,
    FitSettings,
    SplitSettings,
    schema,
    schema_node,
    with_defaults,
)
from busflow.data.preprocess import Preprocess

SECTIONS = (
    DataSettings,
    SplitSettings,
    AugmentSettings,
    FitSettings,
    EvaluationSettings,
    Preprocess,
    ScannerAugment,
)


@pytest.mark.parametrize("section", SECTIONS, ids=lambda c: c.__name__)
def test_fields_are_exactly_the_schema_keys(section):
    assert [f.name for f in fields(section)] == list(schema_node(section.SECTION)["properties"])


def test_defaults_come_from_the_schema():
    split = SplitSettings.from_config({"seed": 3})
    assert split.seed == 3
    assert (
        split.protocol == schema_node("split")["properties"]["protocol"]["default"] == "leak_free"
    )
    evaluation = EvaluationSettings.from_config({})
    assert evaluation.operating_point == {
        "rule": "fixed",
        "threshold": 0.5,
        "target_sensitivity": 0.9,
    }
    assert FitSettings.from_config({"epochs": 2}).head_epochs is None  # no schema default: None


def test_nested_objects_get_their_defaults_too():
    filled = with_defaults(schema_node("augment"), {"scanner": {"gain": 0.2}})
    assert filled["scanner"] == {
        "gain": 0.2,
        "contrast": 0,
        "gamma": 0,
        "blur": 0,
        "speckle": 0,
        "resolution": 0,
    }


def test_settings_are_frozen_and_unknown_keys_named():
    with pytest.raises(ValueError, match="protocoll"):
        SplitSettings.from_config({"protocoll": "paper"})
    split = SplitSettings.of({})
    assert SplitSettings.of(split) is split
    with pytest.raises(AttributeError):
        split.seed = 1


def test_the_schema_file_is_read_once(monkeypatch):
    """sections.schema reads config/schema.yaml once per process; the schema docs use it."""
    reads = []
    read_text = Path.read_text

    def counted(path, *args, **kwargs):
        if path == SCHEMA_FILE:
            reads.append(path)
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counted)
    schema.cache_clear()
    render()
    SplitSettings.from_config({})
    assert len(reads) == 1
