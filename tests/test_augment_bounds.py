"""The augmentation's bounds are the schema's: a value config/schema.yaml accepts never fails
inside the augmentation job, and a value the job would refuse is refused when the workflow starts.

Candidates are finite JSON values: JSON has no NaN or infinity (YAML's .nan and .inf pass a
schema ``minimum``, and the job refuses them by name).
"""

import jsonschema
import pytest

from busflow.augment.affine import AugmentParams
from busflow.augment.scanner import ScannerAugment
from busflow.config.sections import schema, schema_node

NUMBERS = [-1, -1e-9, 0, 1e-9, 0.2, 0.5, 0.9, 0.95, 0.999, 1, 1.5, 10, 89.9, 90, 91, 255, 256]
NOT_NUMBERS = [True, False, "0.1", None, [0.1]]
CANDIDATES = {
    "rotations": [[], [0], [90, 270], [0, 90, 180, 270], [45], [360], [-90], [True], 90, "90"],
    "width_shift": NUMBERS + NOT_NUMBERS,
    "height_shift": NUMBERS + NOT_NUMBERS,
    "shear": NUMBERS + NOT_NUMBERS,
    "zoom": NUMBERS + NOT_NUMBERS,
    "horizontal_flip": [True, False, 0, 1, "yes", None],
    "fill_mode": ["nearest", "constant", "reflect", "wrap", "", 3, None],
    "fill_value": [-1, 0, 3, 3.0, 3.5, 255, 256, True, "3", None],
}
SCANNER_CANDIDATES = NUMBERS + NOT_NUMBERS
# Rotations are normalised by the job (360 is 0), which the schema's enum does not spell out.
JOB_ALSO_ACCEPTS = {"rotations"}


def schema_accepts(section: str, key: str, value) -> bool:
    return jsonschema.Draft202012Validator(schema_node(section)).is_valid({key: value})


def job_accepts(section_class, key: str, value) -> bool:
    try:
        section_class.from_config({key: value})
    except (ValueError, TypeError):
        return False
    return True


def cases(candidates):
    return [(key, value) for key, values in candidates.items() for value in values]


@pytest.mark.parametrize(("key", "value"), cases(CANDIDATES), ids=repr)
def test_a_transform_the_schema_accepts_never_fails_in_the_job(key, value):
    if schema_accepts("augment.transforms", key, value):
        assert job_accepts(AugmentParams, key, value)
    elif key not in JOB_ALSO_ACCEPTS:
        assert not job_accepts(AugmentParams, key, value)


@pytest.mark.parametrize("key", list(schema_node("augment.scanner")["properties"]))
@pytest.mark.parametrize("value", SCANNER_CANDIDATES, ids=repr)
def test_a_scanner_range_is_accepted_by_the_schema_exactly_when_the_job_accepts_it(key, value):
    assert schema_accepts("augment.scanner", key, value) == job_accepts(ScannerAugment, key, value)


def test_every_transform_has_candidate_values():
    """A transform added to the schema is checked here once its candidates are listed."""
    assert list(CANDIDATES) == list(schema_node("augment.transforms")["properties"])


def test_a_shift_of_the_whole_image_is_refused_when_the_workflow_starts():
    config = {"augment": {"transforms": {"width_shift": 1}}}
    errors = jsonschema.Draft202012Validator(schema()).iter_errors(config)
    assert ["augment", "transforms", "width_shift"] in [list(error.path) for error in errors]
    with pytest.raises(ValueError, match="width_shift is a fraction of the image"):
        AugmentParams.from_config({"width_shift": 1})


def test_the_defaults_are_the_schemas_and_pass_the_job():
    defaults = {
        key: node["default"]
        for key, node in schema_node("augment.transforms")["properties"].items()
    }
    assert AugmentParams.from_config(None) == AugmentParams.from_config(defaults)
