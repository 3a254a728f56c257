"""Figures: the training curves mark the kept epoch when it is not the last."""

import matplotlib.pyplot as plt
import pandas as pd

from busflow.models.training import HISTORY_METRICS
from busflow.report.figures import plot_training_curves, training_curves_figure


def history(kept_epoch=None, epochs=4):
    table = pd.DataFrame(
        {
            "epoch": range(1, epochs + 1),
            **{k: [0.5 + 0.1 * e for e in range(epochs)] for k in HISTORY_METRICS},
        }
    )
    if kept_epoch is not None:
        table["kept"] = table["epoch"] == kept_epoch
    return table


def ring_lines(figure):
    return [
        line for ax in figure.axes for line in ax.lines if line.get_label().startswith("kept epoch")
    ]


def test_kept_epoch_is_ringed_on_both_panels():
    figure = training_curves_figure([history(kept_epoch=2), history(kept_epoch=3)], "transfer")
    rings = [
        line
        for ax in figure.axes
        for line in ax.lines
        if line.get_marker() == "o" and line.get_linestyle() == "None"
    ]
    assert [list(line.get_xdata()) for line in rings] == [[2], [3], [2], [3]]
    assert len(ring_lines(figure)) == 2  # one legend entry per panel
    plt.close(figure)


def test_no_ring_for_the_last_epoch_or_an_old_history_without_the_column(tmp_path):
    for histories in ([history(kept_epoch=4)], [history()]):
        figure = training_curves_figure(histories, "baseline")
        assert ring_lines(figure) == []
        plt.close(figure)
    plot_training_curves([history(kept_epoch=1)], "finetune", tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 10_000
