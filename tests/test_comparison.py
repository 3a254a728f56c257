"""The comparison table: this run's three rows beside the six published ones, sources labelled."""

import math
from pathlib import Path

import pandas as pd

from busflow.report.comparison import comparison_table, to_markdown

REFERENCES = Path(__file__).resolve().parents[1] / "config" / "reference_results.csv"


def fake_metrics(model, protocol="leak_free"):
    value = {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9}
    return {
        "model": model,
        "protocol": protocol,
        "leaky": protocol == "paper",
        "weights": "none",
        "n": 40,
        "metrics": {"accuracy": value, "auc": value},
    }


def test_table_holds_nine_rows_with_their_sources():
    runs = [fake_metrics(m) for m in ("baseline", "transfer", "finetune")]
    table = comparison_table(runs, pd.read_csv(REFERENCES))
    assert len(table) == 9
    assert table["source"].value_counts().to_dict() == {
        "busflow (this run)": 3,
        "Paper, Table 1": 3,
        "Hadad et al. (via paper, Table 1)": 3,
    }


def test_reference_rows_match_the_papers_table_1():
    refs = pd.read_csv(REFERENCES).set_index(["source", "model"])
    assert refs.loc[("Paper, Table 1", "finetune"), ["accuracy", "auc"]].tolist() == [0.9739, 0.98]
    assert refs.loc[("Paper, Table 1", "baseline"), ["accuracy", "auc"]].tolist() == [0.79, 0.81]
    assert refs.loc[
        ("Hadad et al. (via paper, Table 1)", "baseline"), ["accuracy", "auc"]
    ].tolist() == [0.94, 0.98]


def test_paper_protocol_rows_are_marked_leaky_in_markdown():
    runs = [fake_metrics("finetune", "paper"), fake_metrics("baseline")]
    text = to_markdown(comparison_table(runs, pd.read_csv(REFERENCES)))
    finetune_line = next(
        line for line in text.splitlines() if "busflow" in line and "finetune" in line
    )
    baseline_line = next(
        line for line in text.splitlines() if "busflow" in line and "baseline" in line
    )
    assert "**leaky**" in finetune_line and "**leak-free**" in baseline_line
    assert "0.800 (0.700-0.900)" in baseline_line


def test_html_table_has_every_row_and_highlights_leaky_ones():
    from busflow.report.comparison import to_html

    runs = [fake_metrics("finetune", "paper"), fake_metrics("baseline")]
    page = to_html(comparison_table(runs, pd.read_csv(REFERENCES)))
    assert page.count("<tr") == 1 + 8
    assert "Hadad et al." in page and "0.800 (0.700-0.900)" in page
    assert (
        page.count('style="background:#fff3cd"') == 1 + 3
    )  # our paper-protocol row + the paper's rows


def test_external_and_cross_validated_rows_say_how_they_were_evaluated():
    cv = {**fake_metrics("finetune"), "evaluation": "5-fold CV"}
    external = {**fake_metrics("finetune"), "external": "hospital_b", "evaluation": "external set"}
    table = comparison_table([cv, external], pd.read_csv(REFERENCES))
    assert table["source"].tolist()[:2] == ["busflow (this run)", "busflow (external: hospital_b)"]
    assert table["evaluation"].tolist()[:2] == ["5-fold CV", "external set"]
    assert set(table["evaluation"][2:]) == {"as published"}
    assert "| external set | 40 |" in to_markdown(table)


def test_rows_predicted_with_test_time_views_say_how_many():
    tta = {**fake_metrics("finetune"), "evaluation": "5-fold CV", "test_time_augmentation": 3}
    plain = {**fake_metrics("baseline"), "evaluation": "5-fold CV", "test_time_augmentation": 0}
    table = comparison_table([tta, plain], pd.read_csv(REFERENCES))
    assert table["evaluation"].tolist()[:2] == ["5-fold CV, mean of 4 test-time views", "5-fold CV"]


def test_an_estimate_is_written_with_its_interval_and_without_a_missing_one():
    from busflow.report.estimates import format_estimate, format_metric

    assert format_metric({"value": 0.9, "ci_low": 0.85, "ci_high": 0.95}) == "0.900 (0.850-0.950)"
    assert format_estimate(0.9, math.nan, math.nan) == "0.900"
    assert format_estimate(math.nan) == "n/a"
