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


# Where a stage's code lives is written in the README, the docs, the rules and the docstrings: a
# module moved or renamed must take every pointer to it along.
POINTER_SOURCES = ["README.md", "docs", "rules", "config", "report", "profiles", "busflow", "bench"]


def pointer_texts():
    for entry in POINTER_SOURCES:
        path = REPO / entry
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        for file in files:
            if file.suffix in {".md", ".py", ".smk", ".yaml", ".rst"} and file.is_file():
                yield file, file.read_text()


def is_module(parts: list[str]) -> bool:
    """Whether busflow.<parts> is a module or a package of this repository."""
    path = REPO.joinpath("busflow", *parts)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def stale_pointer(dotted: str) -> bool:
    """busflow.a.b.c names a module, a package, or a name in a module; a package's next part must
    be one of its modules (busflow.predict.__main__ counts)."""
    parts = dotted.split(".")[1:]
    if parts in ([], ["__version__"]):
        return False
    for depth in range(1, len(parts) + 1):
        if not is_module(parts[:depth]):
            return (
                depth == 1
                or (REPO.joinpath("busflow", *parts[: depth - 1]) / "__init__.py").is_file()
            )
    return False


def test_every_pointer_to_a_busflow_module_names_one_that_exists():
    stale = [
        f"{path.relative_to(REPO)}: {named}"
        for path, text in pointer_texts()
        for named in re.findall(r"(?<![\w/.-])busflow(?:\.\w+)+", text)
        if stale_pointer(named)
    ] + [
        f"{path.relative_to(REPO)}: {named}"
        for path, text in pointer_texts()
        for named in re.findall(r"(?<![\w.-])busflow/[\w/]+\.py", text)
        if not (REPO / named).is_file()
    ]
    assert stale == []


PACKAGES = sorted(p.parent for p in (REPO / "busflow").glob("*/__init__.py"))


def test_every_package_opens_with_a_paragraph_on_what_it_owns():
    for package in PACKAGES:
        docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
        assert len(docstring.split()) >= 20, f"{package.name}/__init__.py: say what it owns"


def test_the_readmes_layout_names_every_package():
    layout = (REPO / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    missing = [p.name for p in PACKAGES if f"`busflow/{p.name}/`" not in layout]
    assert missing == []


def test_bench_python_stays_within_a_thousand_lines():
    """bench/ keeps the benchmarks that justify a design choice (issue 27); git keeps the rest."""
    lines = sum(len(p.read_text().splitlines()) for p in (REPO / "bench").glob("*.py"))
    assert lines <= 1000, f"bench/*.py has {lines} lines: move a benchmark out (docs/benchmarks.md)"
