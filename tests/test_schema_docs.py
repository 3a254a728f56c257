"""config/README.md is the schema's own documentation, regenerated, and every key is described."""

from pathlib import Path

from busflow.config.schema_docs import render, resolve
from busflow.config.sections import schema as load_schema

REPO = Path(__file__).resolve().parents[1]


def test_config_readme_is_what_the_schema_renders():
    committed = (REPO / "config" / "README.md").read_text()
    assert committed == render(), (
        "config/README.md is stale: python -m busflow.config.schema_docs > config/README.md"
    )


def test_every_schema_key_has_a_description():
    schema = load_schema()

    def undocumented(properties, prefix=""):
        for name, raw in properties.items():
            node = resolve(raw, schema)
            if not node.get("description"):
                yield prefix + name
            if "properties" in node:
                yield from undocumented(node["properties"], f"{prefix}{name}.")

    assert list(undocumented(schema["properties"])) == []
