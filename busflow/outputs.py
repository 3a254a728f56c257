"""Writing a rule's tables and records: CSV and JSON, with their folders made first."""

import json
from pathlib import Path

import pandas as pd


def write_csv(table: pd.DataFrame, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)


def save_json(data: dict, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())
