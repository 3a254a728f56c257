"""The protocol table: both runs per model and the leak's inflation, refusing swapped inputs."""

import pandas as pd
import pytest

from busflow.report.protocols import side_by_side, to_markdown


def run_table(protocol, accuracy, auc):
    rows = []
    for model in ("baseline", "finetune"):
        rows.append(
            {
                "source": "busflow (this run)",
                "model": model,
                "protocol": protocol,
                "leaky": protocol == "paper",
                "accuracy": accuracy,
                "accuracy_ci_low": accuracy - 0.05,
                "accuracy_ci_high": accuracy + 0.05,
                "auc": auc,
                "auc_ci_low": auc - 0.04,
                "auc_ci_high": auc + 0.04,
            }
        )
    rows.append(
        {
            "source": "Paper, Table 1",
            "modality": "US",
            "model": "finetune",
            "protocol": "paper",
            "leaky": True,
            "accuracy": 0.9739,
            "auc": 0.98,
        }
    )
    return pd.DataFrame(rows)


def test_inflation_is_paper_minus_leak_free():
    table = side_by_side(run_table("leak_free", 0.85, 0.92), run_table("paper", 0.97, 0.99))
    assert table["accuracy_inflation"].round(3).tolist() == [0.12, 0.12]
    assert table["auc_inflation"].round(3).tolist() == [0.07, 0.07]
    text = to_markdown(table, run_table("leak_free", 0.85, 0.92))
    assert "+0.120" in text and "Paper, Table 1" in text


def test_swapped_runs_are_refused():
    with pytest.raises(ValueError, match="leak_free run"):
        side_by_side(run_table("paper", 0.97, 0.99), run_table("leak_free", 0.85, 0.92))


def test_every_protocol_is_described_once_and_only_the_papers_is_leaky():
    from busflow.protocol import DESCRIPTIONS, NOTES, PROTOCOLS, is_leaky, note

    assert set(DESCRIPTIONS) == set(NOTES) == set(PROTOCOLS)
    assert [is_leaky(p) for p in PROTOCOLS] == [False, True]
    assert note(True).startswith("leaky") and note(False).startswith("leak-free")
