"""A rule, its script and its job function share one name: rule build_manifest runs
scripts/build_manifest.py, which calls busflow.jobs.*.build_manifest_job. The train_<model> rules,
one per registered model, share scripts/train_model.py and train_model_job."""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GENERATED = {'f"train_{spec.name}"': "train_model"}  # rule name expression -> the name they share


def rule_scripts() -> dict[str, str]:
    """Each rule's name (as written) and the script it runs."""
    found = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        text = smk.read_text()
        starts = list(
            re.finditer(
                r"^\s*(?:rule|checkpoint) (\w+):|^\s*rule:\n\s+name:\s*\n\s+(\S+)", text, re.M
            )
        )
        for start, end in zip(starts, [*starts[1:], None]):
            body = text[start.end() : end.start() if end else len(text)]
            script = re.search(r'"\.\./scripts/(\w+)\.py"', body)
            if script:
                found[start.group(1) or start.group(2)] = script.group(1)
    return found


def job_functions(script: str) -> list[str]:
    tree = ast.parse((REPO / "scripts" / f"{script}.py").read_text())
    return [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("busflow.jobs")
        for alias in node.names
    ]


def test_every_rule_runs_the_script_of_its_name():
    scripts = rule_scripts()
    assert len(scripts) >= 14
    for rule, script in scripts.items():
        assert GENERATED.get(rule, rule) == script, rule


def test_every_script_calls_the_job_of_its_name():
    for script in set(rule_scripts().values()):
        jobs = job_functions(script)
        assert jobs in ([], [f"{script}_job"]), (script, jobs)
