"""Every module-level function, class and constant of busflow/ is used somewhere: by busflow
itself, a script, a rule, a test or a benchmark. A name defined and never read is dead code."""

import ast
import re
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["busflow", "scripts", "rules", "tests", "bench", "Snakefile"]


def defined_names(path: Path) -> list[str]:
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return [name for name in names if not name.startswith("__")]


def all_source_text() -> str:
    files = []
    for entry in SOURCES:
        path = REPO / entry
        files += [path] if path.is_file() else [*path.rglob("*.py"), *path.rglob("*.smk")]
    return "\n".join(f.read_text() for f in files)


def test_every_module_level_name_is_used():
    words = Counter(re.findall(r"\w+", all_source_text()))
    unused = [
        f"{path.relative_to(REPO)}: {name}"
        for path in sorted((REPO / "busflow").rglob("*.py"))
        for name in defined_names(path)
        if words[name] < 2
    ]
    assert unused == []


def test_the_jobs_read_json_with_the_one_reader():
    """busflow.outputs.read_json is the rules' JSON reader; the jobs used to re-type it."""
    retyped = [
        path.name
        for path in (REPO / "busflow" / "jobs").glob("*.py")
        if "json.loads(" in path.read_text()
    ]
    assert retyped == []


def test_every_file_a_docstring_or_comment_names_exists():
    """A module's text that points at a bench/, docs/ or scripts/ file points at one that is there
    (tta.py pointed at a tuning script removed long ago)."""
    stale = [
        f"{path.relative_to(REPO)}: {named}"
        for path in sorted((REPO / "busflow").rglob("*.py"))
        for named in re.findall(r"\b((?:bench|docs|scripts)/[\w./-]+\.(?:py|md))", path.read_text())
        if not (REPO / named).exists()
    ]
    assert stale == []
