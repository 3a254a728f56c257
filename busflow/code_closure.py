"""Which busflow modules a rule's script runs: the rule's code inputs, derived, never typed by hand.

Snakemake re-runs a job when its script changes, but the logic lives in this package, so each rule
lists the package modules its script can reach as inputs. The list is the import closure of the
script, read from the source with ``ast`` (nothing is imported): every
``import busflow.data.manifest``, ``from busflow.data import manifest`` and relative
``from . import scan`` / ``from ..errors import E`` anywhere in a file, top level or inside a
function, followed through the package. Imports inside functions count because a rule may call
them; over-listing a module costs a spurious re-run, under-listing it costs a stale result that
looks current. Package ``__init__.py`` files hold only a docstring (tests/test_code_closure.py
checks it), so they are never inputs: editing a package's docstring re-runs nothing.
"""

import ast
from pathlib import Path

PACKAGE = "busflow"


def imported_modules(source_file: Path, package_root: Path | None = None) -> set[str]:
    """Dotted names (``busflow.data.scan``) one file imports, anywhere; some name functions.

    Relative imports are resolved against the file's place under ``package_root`` (the
    ``busflow/`` folder); outside the package (a script) there are none to resolve.
    """
    tree = ast.parse(Path(source_file).read_text(), filename=str(source_file))
    here = module_package(Path(source_file), package_root)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = absolute_base(node, here)
            if base is None:
                continue
            # `from busflow.models import registry` imports the module busflow.models.registry
            found.update(f"{base}.{alias.name}" for alias in node.names)
            found.add(base)
    return {name for name in found if name.startswith(PACKAGE + ".")}


def module_package(source_file: Path, package_root: Path | None) -> list[str] | None:
    """The dotted package ``source_file`` sits in (``["busflow", "data"]``), None outside it."""
    if package_root is None:
        return None
    try:
        relative = source_file.resolve().relative_to(Path(package_root).resolve())
    except ValueError:
        return None
    return [PACKAGE, *relative.parts[:-1]]


def absolute_base(node: ast.ImportFrom, here: list[str] | None) -> str | None:
    """The absolute module a ``from ... import`` reads from; None when it cannot be resolved."""
    if node.level == 0:
        return node.module
    if here is None or node.level > len(here):
        return None
    parent = here[: len(here) - node.level + 1]
    return ".".join(parent + ([node.module] if node.module else []))


def module_file(package_root: Path, dotted: str) -> Path | None:
    """The file of a busflow module, or None for a name that is no module (an imported function)
    or a package (its ``__init__.py`` holds no code)."""
    candidate = Path(package_root).joinpath(*dotted.split(".")[1:]).with_suffix(".py")
    return candidate if candidate.is_file() else None


def code_closure(script: Path, package_root: Path) -> list[Path]:
    """Every busflow module file that ``script`` reaches through imports, sorted.

    ``package_root`` is the ``busflow/`` folder. Raises FileNotFoundError for a missing script.
    """
    pending = [Path(script)]
    seen: set[Path] = set()
    while pending:
        for dotted in imported_modules(pending.pop(), package_root):
            path = module_file(Path(package_root), dotted)
            if path is not None and path not in seen:
                seen.add(path)
                pending.append(path)
    return sorted(seen)
