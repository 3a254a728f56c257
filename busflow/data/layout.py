"""The raw folder's layout: which files are images of the task, and what makes the layout wrong.

One sub-folder per class (``data.classes``); folders named in ``data.ignore_folders`` (BUSI's
``normal``) are skipped; files matching ``data.exclude_pattern`` (BUSI's ``*_mask*.png``) and
hidden files are not images of the task. Anything else is an error that names the file or folder.

Snakemake plans with these functions too, so they are lenient there (no error while listing);
``layout_signature`` is what the manifest rule passes as a parameter, so that a change of layout
(a new folder, a nested folder, a broken link) re-runs the manifest and its checks.
"""

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from busflow.config.sections import DataSettings
from busflow.errors import DatasetLayoutError


@dataclass(frozen=True)
class LayoutRules:
    classes: tuple[str, ...]
    ignore_folders: tuple[str, ...] = ()
    exclude_pattern: str = "*_mask*"

    @classmethod
    def from_config(cls, data_cfg) -> "LayoutRules":
        data_cfg = DataSettings.of(data_cfg)
        return cls(
            classes=tuple(data_cfg.classes),
            ignore_folders=tuple(data_cfg.ignore_folders),
            exclude_pattern=data_cfg.exclude_pattern,
        )

    def is_candidate(self, name: str) -> bool:
        return not name.startswith(".") and not fnmatch.fnmatch(name, self.exclude_pattern)


def is_broken_link(path: Path) -> bool:
    return path.is_symlink() and not path.exists()


def list_candidate_files(raw_dir, rules: LayoutRules) -> list[Path]:
    """Files under the class folders that should be images, broken links included (they must be
    reported by name, not silently skipped); lenient: a missing folder lists nothing."""
    raw = Path(raw_dir)
    files = []
    for label in rules.classes:
        folder = raw / label
        if folder.is_dir():
            files += sorted(
                p
                for p in folder.iterdir()
                if (p.is_file() or p.is_symlink()) and rules.is_candidate(p.name)
            )
    return files


def readable_candidate_files(raw_dir, rules: LayoutRules) -> list[Path]:
    """The candidate files Snakemake can take as inputs: broken links left out, because Snakemake
    stops at planning on a missing input with a message that names no fix; the manifest job reports
    them instead (``layout_signature`` makes it re-run when one appears)."""
    return [p for p in list_candidate_files(raw_dir, rules) if not is_broken_link(p)]


def layout_signature(raw_dir, rules: LayoutRules) -> list[str]:
    """Everything ``check_layout`` judges besides the image files themselves: the top-level
    folders, folders nested in class folders, broken links, and what data.raw is. Equal signatures
    mean the layout checks would give the same answer."""
    raw = Path(raw_dir)
    if not raw.is_dir():
        return ["missing" if not raw.exists() else "not a folder"]
    signature = [
        f"{entry.name}/"
        for entry in sorted(raw.iterdir())
        if entry.is_dir() and not entry.name.startswith(".")
    ]
    for label in rules.classes:
        folder = raw / label
        if folder.is_dir():
            for entry in sorted(folder.iterdir()):
                if entry.is_dir() and not entry.name.startswith("."):
                    signature.append(f"{label}/{entry.name}/")
                elif is_broken_link(entry):
                    signature.append(f"{label}/{entry.name} (broken link)")
    return signature


def check_layout(raw_dir, rules: LayoutRules, setting: str = "data.raw") -> None:
    """Raise DatasetLayoutError naming the folder if the raw folder is not class sub-folders.

    ``setting`` names the config key that points here (data.raw, or an external set's path), so
    the message says which one to fix.
    """
    raw = Path(raw_dir)
    check_is_folder(raw, rules, setting)
    known = set(rules.classes) | set(rules.ignore_folders)
    for entry in sorted(raw.iterdir()):
        if entry.is_dir() and not entry.name.startswith(".") and entry.name not in known:
            raise DatasetLayoutError(
                f"{entry}: unknown folder '{entry.name}' in the raw folder. Add it to data.classes "
                "(a class of the task) or data.ignore_folders (kept out of the task), or move it "
                "out. Folder names are case-sensitive."
            )
    for label in rules.classes:
        check_class_folder(raw / label, rules, raw)


def check_is_folder(raw: Path, rules: LayoutRules, setting: str) -> None:
    wanted = f"a folder with one sub-folder per class ({', '.join(rules.classes)})"
    if not raw.exists():
        raise DatasetLayoutError(
            f"{raw}: the image folder does not exist. Set {setting} in the config to {wanted}."
        )
    if not raw.is_dir():
        raise DatasetLayoutError(
            f"{raw}: this is a file, not a folder. Set {setting} in the config to {wanted}."
        )


def check_class_folder(folder: Path, rules: LayoutRules, raw: Path) -> None:
    if not folder.is_dir():
        raise DatasetLayoutError(
            f"{folder}: class folder missing. Every class in data.classes needs a sub-folder "
            f"of {raw} holding its images; fix data.classes or add the folder."
        )
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and not entry.name.startswith("."):
            raise DatasetLayoutError(
                f"{entry}: sub-folders inside a class folder are not read. Move its images up "
                f"into {folder} or out of the raw folder."
            )
    if not any(
        rules.is_candidate(p.name) for p in folder.iterdir() if p.is_file() or p.is_symlink()
    ):
        raise DatasetLayoutError(
            f"{folder}: class folder holds no images (after excluding "
            f"'{rules.exclude_pattern}'). Add images or remove the class from data.classes."
        )
