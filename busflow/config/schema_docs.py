"""The configuration reference, written from config/schema.yaml's descriptions and defaults.

One source: the schema documents every key; this renders it as Markdown for
``config/README.md`` (what the Snakemake workflow catalog shows) so the two never disagree.
tests/test_schema_docs.py fails when the committed file is not what this writes.

    python -m busflow.config.schema_docs > config/README.md
"""

import json
import sys

from busflow.config.sections import schema as load_schema

INTRO = """# Configuration

`config/config.yaml` (the demo) is validated against `config/schema.yaml` when the workflow
starts; every key below has its default filled in. Files given with `--configfile` are merged
over it, section by section. Shipped overlays:

- `config/paper.yaml`: the paper's settings on BUSI (224 px, 24x augmentation, 50 epochs,
  batch 20, lr 0.001, SGD fine-tune, `normal` excluded, ImageNet weights, 5 folds).
- `config/paper_protocol.yaml`: the paper's leaky split (after augmentation).
- `config/one_split.yaml`: one train/val/test split instead of k-fold.
- `config/busi_cpu_224.yaml`, `config/busi_reduced_cpu.yaml`: BUSI on a 2-core CPU.
- `config/multisite.yaml`: several hospitals (BUSI, BrEaST, BUS-BRA) on lesion regions, each left
  out in turn; `config/multisite_cpu.yaml`: its 2-core CPU settings.

This page is generated from the schema (`python -m busflow.config.schema_docs > config/README.md`).
"""


def resolve(node: dict, schema: dict) -> dict:
    """Follow a local ``$ref`` (``#/$defs/...``)."""
    ref = node.get("$ref")
    if not ref:
        return node
    target = schema
    for part in ref.lstrip("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def kind(node: dict) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{value}`" for value in node["enum"])
    text = str(node.get("type", ""))  # a list of types prints as before, and is not extended
    if {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} & node.keys():
        text += f" {bounds(node)}"
    return text


def bounds(node: dict) -> str:
    """``[low, high]``, a parenthesis on an exclusive side, a side without a bound left empty."""
    low = node.get("exclusiveMinimum", node.get("minimum", ""))
    high = node.get("exclusiveMaximum", node.get("maximum", ""))
    opening = "(" if "exclusiveMinimum" in node else "["
    closing = ")" if "exclusiveMaximum" in node else "]"
    return f"{opening}{low}, {high}{closing}"


def rows(properties: dict, schema: dict, prefix: str = "") -> list[str]:
    """One table row per key, nested sections flattened to dotted names."""
    lines = []
    for name, raw in properties.items():
        node = resolve(raw, schema)
        key = f"{prefix}{name}"
        default = (
            f"`{json.dumps(node['default'])}`"
            if "default" in node and node.get("type") != "object"
            else ""
        )
        description = " ".join(str(node.get("description", "")).split()).replace("|", "\\|")
        lines.append(f"| `{key}` | {kind(node)} | {default} | {description} |")
        if node.get("type") == "object" and "properties" in node:
            lines += rows(node["properties"], schema, key + ".")
        items = resolve(node.get("items", {}), schema) if node.get("type") == "array" else {}
        if items.get("type") == "object":
            lines += rows(items.get("properties", {}), schema, key + "[].")
    return lines


def render() -> str:
    schema = load_schema()  # busflow.config.sections reads the schema, once per process
    table = [
        "| Key | Type | Default | What it does |",
        "|---|---|---|---|",
        *rows(schema["properties"], schema),
    ]
    return INTRO + "\n" + "\n".join(table) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
