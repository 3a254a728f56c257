"""Rule compare_models: this run's rows beside the published ones, as CSV, Markdown and HTML."""

from pathlib import Path

import pandas as pd

from busflow.outputs import read_json, write_csv
from busflow.report.comparison import comparison_table, to_html, to_markdown


def compare_models_job(metrics_files, references_csv, out: dict, roi: dict | None = None) -> None:
    """``roi``: data.roi's keys, so the table says what part of each image the models saw."""
    runs = [read_json(path) for path in metrics_files]
    table = comparison_table(runs, pd.read_csv(references_csv))
    write_csv(table, out["csv"])
    markdown = to_markdown(table, roi=roi)
    Path(out["md"]).write_text(markdown)
    Path(out["html"]).write_text(to_html(table, roi=roi))
    print(markdown)
