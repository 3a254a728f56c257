"""Which busflow modules a rule's script runs: the rule's code inputs, derived, never typed by hand.

Snakemake re-runs a job when its script changes, but the logic lives in this package, so each rule
lists the package modules its script can reach as inputs. The list is the import closure of the
script, read from the source with ``ast`` (nothing is imported): every ``import busflow.x`` and
``from busflow[.x] import y`` anywhere in a file, top level or inside a function, followed through
the package. Imports inside functions count because a rule may call them; over-listing a module
costs a spurious re-run, under-listing it costs a stale result that looks current.
"""

import ast
from pathlib import Path

PACKAGE = "busflow"


def imported_modules(source_file: Path) -> set[str]:
    """Dotted names of the busflow modules one file imports (``busflow.x``), anywhere in it."""
    tree = ast.parse(Path(source_file).read_text(), filename=str(source_file))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from busflow import models` imports the module busflow.models
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
            found.add(node.module)
    # busflow/__init__.py holds a docstring and the version, no logic:
    # a version bump re-runs nothing
    return {name for name in found if name.startswith(PACKAGE + ".")}


def module_file(package_root: Path, dotted: str) -> Path | None:
    """The file of a busflow module, or None for a name that is no module (an imported function)."""
    candidate = package_root.joinpath(*dotted.split(".")[1:])
    for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
        if path.is_file():
            return path
    return None


def code_closure(script: Path, package_root: Path) -> list[Path]:
    """Every busflow module file that ``script`` reaches through imports, sorted.

    ``package_root`` is the ``busflow/`` folder. Raises FileNotFoundError for a missing script.
    """
    pending = [Path(script)]
    seen: set[Path] = set()
    while pending:
        for dotted in imported_modules(pending.pop()):
            path = module_file(Path(package_root), dotted)
            if path is not None and path not in seen:
                seen.add(path)
                pending.append(path)
    return sorted(seen)
