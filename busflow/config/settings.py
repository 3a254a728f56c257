"""Checks across config values that the JSON schema cannot express."""

import difflib
import os
import re

from busflow.config.sections import FitSettings, SplitSettings, schema
from busflow.config.sites import is_multi_site, sites_of
from busflow.errors import ConfigError
from busflow.models.registry import MODEL_SPECS, model_names
from busflow.protocol import LEAK_FREE, validates_on_test


def check_epoch_selection(config: dict) -> None:
    """Under the paper's protocol the validation samples are the test copies (as in the paper), so
    choosing an epoch on them would select on the test set: only keep_epoch: last is allowed."""
    if not validates_on_test(config["split"]["protocol"]):
        return
    for model in model_names():
        keep = FitSettings.of(config["training"][model]).keep_epoch
        if keep != "last":
            raise ConfigError(
                f"training.{model}.keep_epoch: {keep} with split.protocol: paper would "
                "pick the epoch on the test copies (the paper protocol validates on "
                f"them). Set training.{model}.keep_epoch: last for the paper protocol, "
                "or use split.protocol: leak_free."
            )


# Keys the shared per-model schema accepts for every model but only the models that continue
# another one read (their head's warm-up). (pooling and l2 are transfer-only too, but the schema
# fills their defaults into every model.)
CONTINUING_ONLY_KEYS = ("head_epochs",)


def check_model_only_keys(config: dict) -> None:
    """A key only fine-tuning models read, under another model, would
    be silently ignored: refuse it."""
    owners = [spec.name for spec in MODEL_SPECS if spec.starts_from]
    for key in CONTINUING_ONLY_KEYS:
        for spec in MODEL_SPECS:
            if not spec.starts_from and config["training"][spec.name].get(key) is not None:
                raise ConfigError(
                    f"training.{spec.name}.{key} is read only by {', '.join(owners)}; busflow "
                    f"would ignore it here. Move it to training.{owners[0]}.{key}, or remove it."
                )


def check_operating_point(config: dict) -> None:
    """The paper protocol's validation images are test copies: a threshold or recalibration fitted
    on them would be fitted on the test set, so only the fixed threshold is allowed there."""
    evaluation = config["evaluation"]
    if not validates_on_test(config["split"]["protocol"]):
        return
    if evaluation["operating_point"]["rule"] != "fixed" or evaluation["recalibration"] != "none":
        raise ConfigError(
            "evaluation.operating_point.rule and evaluation.recalibration are fitted on the "
            "validation images, which under split.protocol: paper are the test copies. Set "
            "evaluation.operating_point.rule: fixed and evaluation.recalibration: none for the "
            "paper protocol, or use split.protocol: leak_free."
        )


# An external set's name becomes a folder: results/external/{name}/. A plain identifier cannot
# climb out of it ('..') or land on another output; the schema has the same pattern.
EXTERNAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def check_external_sets(config: dict) -> None:
    """External and predict set names are plain identifiers, and each is used once within its
    list (else the last one would silently overwrite the others' outputs); an external set's CSV
    and a predict set's path exist (ConfigError naming the set and the fix)."""
    for key, folder in (
        ("external", "results/external/<name>/"),
        ("predict", "results/predictions/"),
    ):
        seen = set()
        for i, entry in enumerate(config.get(key, [])):
            name = entry["name"]
            if not EXTERNAL_NAME.fullmatch(name):
                raise ConfigError(
                    f"{key}[{i}].name '{name}': a set's name becomes a file name under {folder}, "
                    "so it must be letters, digits, '_' or '-' (starting with a letter or digit). "
                    "Rename it, e.g. hospital_b."
                )
            if name in seen:
                raise ConfigError(
                    f"{key}[{i}].name '{name}' is used by two sets; their results would "
                    "overwrite each other. Give each set its own name."
                )
            seen.add(name)
    for i, entry in enumerate(config.get("predict", [])):
        check_predict_path(entry["path"], i, entry["name"])


def check_predict_path(path, index: int, name: str) -> None:
    """A set to predict that is not there stops at planning. Planning lists no files for it
    (busflow.predict.new_images.listed_files is lenient), so a dry run passed and the predict job
    failed, a traceback in its log."""
    if not os.path.exists(path):
        raise ConfigError(
            f"predict[{index}] ({name}): {path}: no such file or folder (a relative path starts "
            f"at the workflow's folder, {os.getcwd()}). Fix predict[{index}].path in the config: "
            "an image file, a folder of images or a CSV with a 'path' column; or remove the set."
        )


SITE_NAME_RULE = (
    "a site's name starts every image id of the site and names its rows in the table, so it "
    "must be letters, digits, '_' or '-' (starting with a letter or digit). Rename it, e.g. "
    "hospital_b."
)


def check_site_names(config: dict) -> None:
    """Run before the schema: its oneOf over data.raw's two shapes would print a dump that never
    says a site's name is wrong."""
    raw = (config.get("data") or {}).get("raw")
    if not isinstance(raw, list):
        return
    for i, entry in enumerate(raw):
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and not EXTERNAL_NAME.fullmatch(name):
            raise ConfigError(f"data.raw[{i}].name '{name}': {SITE_NAME_RULE}")


def check_config_keys(config: dict) -> None:
    """Run before the schema: a misspelt key under a section that takes only its own
    (additionalProperties: false) fails validation with the right first line, then hundreds of
    lines of schema dump. Raises ConfigError naming the key, its section, the closest valid key
    and every valid one. Values of the wrong type are left to the schema."""
    root = schema()
    unknown = first_unknown_key(config, root, "", root["$defs"])
    if unknown is None:
        return
    where, key, valid = unknown
    close = difflib.get_close_matches(key, valid, n=1)
    named = f"{where}.{key}" if where else key
    section = f"in section {where}" if where else "at the top level of the config"
    guess = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(
        f"{named}: unknown key {section}{guess}; its valid keys: {', '.join(valid)}. Fix the "
        "spelling, or remove the key."
    )


def first_unknown_key(value, node: dict, where: str, defs: dict):
    """(section, key, valid keys) of the first key the schema ``node`` does not allow in
    ``value`` (a config section at ``where``, dotted), looking into nested sections, lists of
    them and $ref'd ones; None when every key is known."""
    ref = node.get("$ref", "")
    node = defs[ref.removeprefix("#/$defs/")] if ref else node
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            found = first_unknown_key(item, node["items"], f"{where}[{i}]", defs)
            if found:
                return found
        return None
    for option in node.get("oneOf", []):  # data.raw: a folder, or a list of sites
        found = first_unknown_key(value, option, where, defs)
        if found:
            return found
    properties = node.get("properties", {})
    if not isinstance(value, dict) or not properties:
        return None
    for key, item in value.items():
        if key not in properties:
            if node.get("additionalProperties") is False:
                return where, str(key), list(properties)
            continue
        found = first_unknown_key(item, properties[key], f"{where}.{key}".lstrip("."), defs)
        if found:
            return found
    return None


def same_place(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def check_split_record(config: dict) -> None:
    """The split record must outlive results/ (cleaning results must not re-split every image) and
    must not land on one of the workflow's outputs."""
    record = SplitSettings.of(config["split"]).record
    if record and os.path.normpath(record).split(os.sep)[0] == "results":
        raise ConfigError(
            f"split.record: {record} is inside results/, where cleaning the results would delete "
            "it and re-split every image, and where it could overwrite an output. Put it outside "
            "results/, e.g. split_record.csv."
        )


def check_sites(config: dict) -> None:
    """Several sites need unique names; leave_one_site_out needs two sites and makes the folds."""
    names = [site.name for site in sites_of(config["data"])]
    if is_multi_site(config["data"]):
        if len(set(names)) != len(names):
            raise ConfigError(
                f"data.raw: site names {', '.join(names)} repeat; image ids start with the site's "
                "name, so each site needs its own. Rename one."
            )
        if config["demo"]["generate"]:
            raise ConfigError(
                "demo.generate writes one demo folder into data.raw, which lists several sites. "
                "Set demo.generate: false, or data.raw to one folder."
            )
        sites = sites_of(config["data"])
        for i, site in enumerate(sites):
            for other in sites[:i]:
                if same_place(site.path, other.path):
                    raise ConfigError(
                        f"data.raw: sites '{other.name}' and '{site.name}' both read {site.path}: "
                        "every image would be a cross-site duplicate of itself. Remove one, or "
                        "point it at its own hospital's images."
                    )
    if not config["evaluation"]["leave_one_site_out"]:
        return
    if len(names) < 2:
        raise ConfigError(
            "evaluation.leave_one_site_out needs two or more sites: set data.raw to a list of "
            "{name, path} folders, or set evaluation.leave_one_site_out: false."
        )
    if config["evaluation"]["folds"] != 1 or config["split"]["protocol"] != LEAK_FREE:
        raise ConfigError(
            "evaluation.leave_one_site_out makes one fold per site: keep evaluation.folds: 1 and "
            "split.protocol: leak_free with it."
        )


def check_settings(config: dict) -> None:
    """Every check of this module, run once the schema has validated (and filled) the config."""
    check_epoch_selection(config)
    check_operating_point(config)
    check_model_only_keys(config)
    check_external_sets(config)
    check_split_record(config)
    check_sites(config)
