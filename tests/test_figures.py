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


def write_model_files(folder, model, auc, kfold, seed):
    """A model's predictions.csv and metrics.json (k-fold: an ensemble's, as evaluate_external)."""
    import json

    import numpy as np

    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], 10)
    table = pd.DataFrame(
        {"label": labels, "probability": np.clip(labels * 0.3 + rng.random(20), 0, 1)}
    )
    table.to_csv(folder / f"{model}.csv", index=False)
    own = {"metrics": {"auc": {"value": auc}}}
    record = {"metrics": {"auc": {"value": 0.0}}, "ensemble": own} if kfold else own
    (folder / f"{model}.json").write_text(json.dumps(record))
    return folder / f"{model}.csv", folder / f"{model}.json"


def test_each_external_set_gets_a_roc_beside_the_own_test_roc_and_a_calibration_plot(
    tmp_path, monkeypatch
):
    from PIL import Image

    from busflow.jobs import figures as job
    from busflow.report import figures

    shown = {}

    def keep(external, internal, aucs, path, title):
        shown.update(aucs=aucs, title=title)
        real(external, internal, aucs, path, title)

    real = figures.plot_external_roc
    monkeypatch.setattr(figures, "plot_external_roc", keep)
    (tmp_path / "ext").mkdir()
    (tmp_path / "own").mkdir()
    models = ["baseline", "transfer"]
    ext = [
        write_model_files(tmp_path / "ext", m, 0.6 + i / 10, True, i) for i, m in enumerate(models)
    ]
    own = [write_model_files(tmp_path / "own", m, 0.9, False, 5 + i) for i, m in enumerate(models)]
    out = {"roc": tmp_path / "roc.png", "calibration": tmp_path / "calibration.png"}
    job.plot_external_figures_job(
        "hospital_b",
        models,
        2,
        [p for p, _ in ext],
        [m for _, m in ext],
        [p for p, _ in own],
        [m for _, m in own],
        out,
        calibration_bins=5,
    )
    assert shown["aucs"] == {"baseline": (0.9, 0.6), "transfer": (0.9, 0.7)}  # the ensemble's
    assert shown["title"] == "ROC on hospital_b (mean of the 2 fold models)"
    for path in out.values():
        assert Image.open(path).size[0] > 300


def caption_config(folds: int) -> dict:
    import yaml

    from workflow_helpers import REPO

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["evaluation"]["folds"] = folds
    config["evaluation"]["operating_point"] = {"rule": "youden"}
    return config


def render_caption(name: str, folds: int) -> str:
    from types import SimpleNamespace

    import jinja2

    from workflow_helpers import REPO

    snakemake = SimpleNamespace(
        config=caption_config(folds),
        wildcards=SimpleNamespace(name="hospital_b", model="transfer"),
        params=SimpleNamespace(per_class=3, top_k=32, classes=["benign", "malignant"]),
    )
    text = (REPO / "report" / name).read_text()
    rendered = jinja2.Template(text).render(snakemake=snakemake).replace("**", "")
    return " ".join(rendered.split())


def test_the_confusion_caption_says_the_operating_point_and_how_folds_are_combined():
    one = render_caption("confusion.rst", 1)
    folds = render_caption("confusion.rst", 5)
    assert "threshold 0.5" not in one + folds
    assert "each model's own operating point" in one and "(rule youden)" in one
    assert "On the test split" in one and "sum" not in one
    assert "5-fold cross-validation: each matrix is the sum of the folds' matrices" in folds
    assert "that fold's own threshold" in folds


def test_the_external_captions_name_the_set_and_say_what_is_compared():
    roc = render_caption("external_roc.rst", 1)
    assert "external set hospital_b" in roc and "run's own test images (dashed" in roc
    assert "fold models' mean probability" in render_caption("external_roc.rst", 3)
    assert "Calibration on the external set hospital_b" in render_caption(
        "external_calibration.rst", 1
    )
