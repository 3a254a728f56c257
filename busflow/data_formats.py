"""The formats a set of labelled images comes in: a site of data.raw or an external set is a folder
of class sub-folders (BUSI's layout) or a CSV of ``path,label``. One ``DataFormat`` entry each, and
every step that depends on the format asks ``format_of(path)``: the planning helpers of
rules/common.smk (which files the manifest reads, what re-runs it), the config checks, and the
manifest rules that decode the images.

Adding a format is one entry in DATA_FORMATS (docs/adding-a-data-format.md).
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from busflow.config_types import DataSettings
from busflow.errors import ConfigError
from busflow.image_scan import scan_images
from busflow.label_csv import is_csv, read_label_csv, scan_csv
from busflow.layout import LayoutRules, layout_signature, readable_candidate_files


@dataclass(frozen=True)
class DataFormat:
    """How busflow reads one format. Each function takes the configured path (``source``) and
    data.raw's settings (``data``, a DataSettings):

    matches(source): whether the path is in this format (DATA_FORMATS' first match wins).
    files(source, data): the files the manifest rule reads, for planning: lenient (never raises),
        broken links and missing files left out, so the job, not Snakemake, reports them.
    layout(source, data): what the format's checks judge besides those files, as strings: a
        rule param, so that a change re-runs the manifest ([] when the files say it all).
    scan(source, data, setting): (images, rejected): one row per decoded image, as
        busflow.image_scan.scan_images gives them, and the files left out under on_bad_image:
        skip; errors name ``setting`` (the config key) and the fix.
    check(source, setting): at planning, a ConfigError for what Snakemake would otherwise stop
        on without naming a fix (nothing to check: do nothing).
    """

    name: str
    matches: Callable[[object], bool]
    files: Callable[[object, DataSettings], list[str]]
    layout: Callable[[object, DataSettings], list[str]]
    scan: Callable[[object, DataSettings, str], tuple[pd.DataFrame, pd.DataFrame]]
    check: Callable[[object, str], None]


def folder_files(source, data: DataSettings) -> list[str]:
    return [str(p) for p in readable_candidate_files(source, LayoutRules.from_config(data))]


def folder_layout(source, data: DataSettings) -> list[str]:
    return layout_signature(source, LayoutRules.from_config(data))


def folder_scan(source, data: DataSettings, setting: str):
    rules = LayoutRules.from_config(data)
    return scan_images(source, rules, data.on_bad_image, data.max_image_pixels, setting)


def nothing_to_check(source, setting: str) -> None:
    """A missing folder is reported by the manifest job's layout check, with the fix."""


def csv_files(source, data: DataSettings) -> list[str]:
    """The CSV and the listed images that exist; only the CSV while it cannot be read."""
    if not Path(source).is_file():
        return [str(source)]
    try:
        listed = read_label_csv(source, allow_outside=data.csv_paths_outside_folder)["path"]
    except ConfigError:
        listed = []
    return [str(source), *sorted(p for p in listed if Path(p).exists())]


def csv_layout(source, data: DataSettings) -> list[str]:
    return []  # the CSV is one of the files: an edit re-runs the manifest


def csv_scan(source, data: DataSettings, setting: str):
    classes, outside = list(data.classes), data.csv_paths_outside_folder
    return scan_csv(source, classes, data.on_bad_image, data.max_image_pixels, setting, outside)


def csv_check(source, setting: str) -> None:
    """A missing CSV stops at planning with busflow's message (Snakemake would stop with a
    MissingInputException, even under -n)."""
    if not os.path.isfile(source):
        raise ConfigError(
            f"{source}: CSV of images not found. Fix its path under {setting} in the config."
        )


CSV = DataFormat("CSV of path,label", is_csv, csv_files, csv_layout, csv_scan, csv_check)
FOLDER = DataFormat(
    "folder of class sub-folders",
    lambda source: True,  # any other path: the fallback, so it comes last
    folder_files,
    folder_layout,
    folder_scan,
    nothing_to_check,
)
DATA_FORMATS = (CSV, FOLDER)


def format_of(source) -> DataFormat:
    return next(entry for entry in DATA_FORMATS if entry.matches(source))


def candidate_files(source, data_cfg) -> list[str]:
    """What the manifest rule reads from ``source`` (planning; lenient)."""
    return format_of(source).files(source, DataSettings.of(data_cfg))


def layout_of(source, data_cfg) -> list[str]:
    """What re-runs ``source``'s manifest besides its files (planning)."""
    return format_of(source).layout(source, DataSettings.of(data_cfg))


def scan_source(source, data_cfg, setting: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(images, rejected) of ``source``, decoded once; errors name ``setting``."""
    return format_of(source).scan(source, DataSettings.of(data_cfg), setting)


def check_source(source, setting: str) -> None:
    """Planning: a ConfigError naming ``setting`` when ``source`` cannot be read at all."""
    format_of(source).check(source, setting)
