"""Rule write_model_card: the run's model card (busflow.report.model_card) as Markdown and HTML."""

from pathlib import Path

import pandas as pd

from busflow.predict.export import read_export
from busflow.report.model_card import card_outline, to_html, to_markdown


def write_model_card_job(comparison_csv, export_dirs, out: dict) -> None:
    records = [read_export(folder).record for folder in export_dirs]
    outline = card_outline(pd.read_csv(comparison_csv), records)
    Path(out["md"]).write_text(to_markdown(outline))
    Path(out["html"]).write_text(to_html(outline))
    print(f"model card of {len(records)} exported models: {out['md']}")
