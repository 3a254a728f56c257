"""The formats a set of labelled images comes in: a site of data.raw or an external set is a folder
of class sub-folders (BUSI's layout) or a CSV of ``path,label``. One ``DataFormat`` entry each, and
every step that depends on the format asks ``format_of(path)``: the planning helpers of
rules/common.smk (which files the manifest reads, what re-runs it), the config checks, the
manifest rules that decode the images, and the listing of new, unlabelled images to predict
(busflow.predict.new_images), where the CSV needs only a ``path`` column.

Adding a format is one entry in DATA_FORMATS (docs/adding-a-data-format.md).
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from busflow.config.sections import DataSettings
from busflow.config.sites import is_multi_site, sites_of
from busflow.data.label_csv import is_csv, read_label_csv, scan_csv
from busflow.data.layout import LayoutRules, layout_signature, readable_candidate_files
from busflow.data.regions import is_mask_beside_an_image
from busflow.data.scan import scan_images
from busflow.errors import ConfigError


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
        busflow.data.scan.scan_images gives them, and the files left out under on_bad_image:
        skip; errors name ``setting`` (the config key) and the fix.
    check(source, setting): at planning, a ConfigError for what Snakemake would otherwise stop
        on without naming a fix (nothing to check: do nothing).
    unlabelled(source): (image_id, path) of every image to predict, labels not needed; a
        ConfigError naming the source when it lists none.
    """

    name: str
    matches: Callable[[object], bool]
    files: Callable[[object, DataSettings], list[str]]
    layout: Callable[[object, DataSettings], list[str]]
    scan: Callable[[object, DataSettings, str], tuple[pd.DataFrame, pd.DataFrame]]
    check: Callable[[object, str], None]
    unlabelled: Callable[[object], list[tuple[str, str]]]


def folder_files(source, data: DataSettings) -> list[str]:
    return [str(p) for p in readable_candidate_files(source, LayoutRules.from_config(data))]


def folder_layout(source, data: DataSettings) -> list[str]:
    return layout_signature(source, LayoutRules.from_config(data))


def folder_scan(source, data: DataSettings, setting: str):
    rules = LayoutRules.from_config(data)
    return scan_images(source, rules, data.on_bad_image, data.max_image_pixels, setting)


def nothing_to_check(source, setting: str) -> None:
    """A missing folder is reported by the manifest job's layout check, with the fix."""


def folder_unlabelled(source) -> list[tuple[str, str]]:
    """Every file under the folder, at any depth, but hidden ones and the lesion masks beside an
    image (<name>_mask*: its region, busflow.data.regions); ids relative to the folder."""
    source = Path(source)
    files = sorted(
        p
        for p in source.rglob("*")
        if (p.is_file() or p.is_symlink())
        and not any(part.startswith(".") for part in p.relative_to(source).parts)
        and not is_mask_beside_an_image(p)
    )
    if not files:
        raise ConfigError(
            f"{source}: the folder holds no files to predict. Put the images in it (any "
            "depth), or name the image files or a CSV with a 'path' column instead."
        )
    return [(str(p.relative_to(source)), str(p)) for p in files]


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


def csv_unlabelled(source) -> list[tuple[str, str]]:
    """The CSV's ``path`` column (relative to its folder, or absolute); ids from an optional
    ``image_id`` column, else the paths as written."""
    table = pd.read_csv(source, dtype=str, keep_default_na=False)
    if "path" not in table.columns or table.empty:
        raise ConfigError(
            f"{source}: a CSV of images to predict needs a 'path' column and one row per "
            "image (an 'image_id' column is optional)."
        )
    folder = Path(source).parent.resolve()
    paths = [os.path.normpath(folder / p) for p in table["path"]]
    ids = table["image_id"] if "image_id" in table.columns else table["path"]
    return list(zip(ids, paths))


CSV = DataFormat(
    "CSV of path,label", is_csv, csv_files, csv_layout, csv_scan, csv_check, csv_unlabelled
)
FOLDER = DataFormat(
    "folder of class sub-folders",
    lambda source: True,  # any other path: the fallback, so it comes last
    folder_files,
    folder_layout,
    folder_scan,
    nothing_to_check,
    folder_unlabelled,
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


def check_sources(config: dict) -> None:
    """Planning, after busflow.config.settings.check_settings: every external set and every site
    of several can be read at all. A missing CSV stops with busflow's message naming the setting
    (Snakemake would stop with a MissingInputException, even under -n)."""
    for i, entry in enumerate(config["external"]):
        check_source(entry["path"], f"external[{i}] ({entry['name']})")
    if is_multi_site(config["data"]):
        for i, site in enumerate(sites_of(config["data"])):
            check_source(site.path, f"data.raw[{i}] ({site.name})")
