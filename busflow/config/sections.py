"""Typed, frozen settings made from the validated config, one class per config section.

Defaults live in config/schema.yaml only: ``from_config`` fills whatever a mapping leaves out from
the schema's defaults (as Snakemake's validation does for the workflow's config), so code never
repeats a default, and a test or a notebook can pass a partial mapping. Every class's fields are
its section's schema properties exactly (tests/test_config_types.py), so the two cannot drift.

Rules still pass plain config sections as params (Snakemake compares them to re-run jobs); the job
entry points and library functions turn them into these with ``of``.
"""

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import ClassVar

import yaml

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


@functools.cache
def schema() -> dict:
    return yaml.safe_load(SCHEMA_FILE.read_text())


def schema_node(path: str) -> dict:
    """The schema of a section: "split", "training.finetune", "evaluation.operating_point", or
    "$defs/fit"; local ``$ref`` followed."""
    root = schema()
    if path.startswith("$defs/"):
        return root["$defs"][path.removeprefix("$defs/")]
    node = root
    for part in path.split("."):
        node = _resolve(node["properties"][part])
    return node


def _resolve(node: dict) -> dict:
    ref = node.get("$ref")
    return schema()["$defs"][ref.removeprefix("#/$defs/")] if ref else node


def with_defaults(node: dict, given: Mapping | None) -> dict:
    """``given`` with every missing key that has a schema default filled in, nested objects too."""
    filled = dict(given or {})
    for key, raw in node.get("properties", {}).items():
        child = _resolve(raw)
        if key not in filled and "default" in child:
            filled[key] = child["default"]
        if (
            child.get("type") == "object"
            and "properties" in child
            and isinstance(filled.get(key), Mapping)
        ):
            filled[key] = with_defaults(child, filled[key])
    return filled


@dataclass(frozen=True)
class Section:
    """Base of the typed sections: SECTION names the schema node."""

    SECTION: ClassVar[str] = ""

    @classmethod
    def from_config(cls, given: Mapping | None):
        if given is not None and not isinstance(given, Mapping):
            raise ValueError(
                f"{cls.SECTION} settings must be a mapping of field names, got "
                f"{type(given).__name__}"
            )
        values = with_defaults(schema_node(cls.SECTION), given)
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(
                f"unknown {cls.SECTION} setting(s): {', '.join(unknown)}; valid: {', '.join(names)}"
            )
        # A key without a schema default (e.g. head_epochs) is None when not given.
        return cls(**{name: values.get(name) for name in names})

    @classmethod
    def of(cls, value):
        """``value`` as this class: itself, or built from a (partial) mapping."""
        return value if isinstance(value, cls) else cls.from_config(value)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DataSettings(Section):
    SECTION: ClassVar[str] = "data"
    raw: object
    classes: list
    ignore_folders: list
    exclude_pattern: str
    on_bad_image: str
    on_label_conflict: str
    near_duplicate_distance: int
    max_image_pixels: int
    csv_paths_outside_folder: bool
    image_size: int
    roi: str
    roi_margin: float
    roi_missing: str
    masks: str | None
    preprocess: dict


@dataclass(frozen=True)
class SplitSettings(Section):
    SECTION: ClassVar[str] = "split"
    protocol: str
    val_fraction: float
    test_fraction: float
    paper_test_fraction: float
    seed: int
    record: str | None


@dataclass(frozen=True)
class AugmentSettings(Section):
    SECTION: ClassVar[str] = "augment"
    factor: int
    balance: bool
    keep_original: bool
    shards: int
    seed: int
    transforms: dict
    scanner: dict


@dataclass(frozen=True)
class FitSettings(Section):
    """One model's training settings (training.<model>)."""

    SECTION: ClassVar[str] = "$defs/fit"
    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str
    momentum: float
    dropout: float
    seed: int
    keep_epoch: str
    pooling: str
    l2: float
    clipnorm: float | None
    standardise_features: bool
    head_epochs: int | None


@dataclass(frozen=True)
class EvaluationSettings(Section):
    SECTION: ClassVar[str] = "evaluation"
    bootstrap: int
    ci_level: float
    seed: int
    batch_size: int
    tta_copies: int
    leave_one_site_out: bool
    operating_point: dict
    recalibration: str
    calibration_bins: int
    folds: int
