"""The report's figures: training curves (the paper's Figs 2-4), ROC curves, confusion matrices,
reliability diagrams and precision-recall curves."""

import matplotlib

matplotlib.use("Agg")  # batch jobs have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402


def plot_training_curves(histories: list[pd.DataFrame], model: str, path) -> None:
    figure = training_curves_figure(histories, model)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def training_curves_figure(histories: list[pd.DataFrame], model: str):
    """Train and validation curves; under k-fold one pair of lines per fold."""
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    several = len(histories) > 1
    suffix = f" ({len(histories)} folds, one line each)" if several else ""
    style = {"alpha": 0.6} if several else {"marker": "o"}
    for ax, metric in zip(axes, ("accuracy", "loss")):
        for fold, history in enumerate(histories):
            first = fold == 0
            ax.plot(
                history["epoch"],
                history[metric],
                color="C0",
                label=f"train{suffix}" if first else None,
                **style,
            )
            ax.plot(
                history["epoch"],
                history[f"val_{metric}"],
                color="C1",
                label=f"validation{suffix}" if first else None,
                **style,
            )
            _mark_kept_epoch(ax, history, metric, first)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.suptitle(f"{model}: training curves")
    figure.tight_layout()
    return figure


def _mark_kept_epoch(ax, history: pd.DataFrame, metric: str, first: bool) -> None:
    """A ring on the epoch whose weights were kept, where that is not simply the last one."""
    if "kept" not in history or bool(history["kept"].iloc[-1]):
        return
    kept = history[history["kept"].astype(bool)]
    ax.plot(
        kept["epoch"],
        kept[f"val_{metric}"],
        linestyle="none",
        marker="o",
        markersize=9,
        markerfacecolor="none",
        color="black",
        label="kept epoch (best validation)" if first else None,
    )


def plot_roc_curves(
    predictions: dict[str, pd.DataFrame],
    aucs: dict[str, float],
    path,
    title="ROC on the test split",
) -> None:
    figure, ax = plt.subplots(figsize=(5, 5))
    for model, table in predictions.items():
        fpr, tpr, _ = roc_curve(table["label"], table["probability"])
        ax.plot(fpr, tpr, label=f"{model} (AUC {aucs[model]:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("1 - specificity (false positive rate)")
    ax.set_ylabel("sensitivity (true positive rate)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_external_roc(
    external: dict[str, pd.DataFrame],
    internal: dict[str, pd.DataFrame],
    aucs: dict[str, tuple[float, float]],
    path,
    title: str,
) -> None:
    """Each model's ROC on an external set (solid) over its ROC on the run's own test images
    (dashed, same colour): the gap between them is the drop on another hospital's images.
    ``aucs``: model -> (internal AUC, external AUC)."""
    figure, ax = plt.subplots(figsize=(5.6, 5.6))
    for model, table in external.items():
        fpr, tpr, _ = roc_curve(table["label"], table["probability"])
        (line,) = ax.plot(fpr, tpr, label=f"{model}, external (AUC {aucs[model][1]:.3f})")
        fpr, tpr, _ = roc_curve(internal[model]["label"], internal[model]["probability"])
        ax.plot(
            fpr,
            tpr,
            linestyle="--",
            color=line.get_color(),
            alpha=0.6,
            label=f"{model}, own test images (AUC {aucs[model][0]:.3f})",
        )
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
    ax.set_xlabel("1 - specificity (false positive rate)")
    ax.set_ylabel("sensitivity (true positive rate)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_confusion_matrices(matrices: dict[str, list], class_names: list[str], path) -> None:
    figure, axes = plt.subplots(1, len(matrices), figsize=(3.6 * len(matrices), 3.4), squeeze=False)
    for ax, (model, matrix) in zip(axes[0], matrices.items()):
        values = np.asarray(matrix)
        ax.imshow(values, cmap="Blues")
        for (i, j), count in np.ndenumerate(values):
            ax.text(j, i, str(count), ha="center", va="center", color="black")
        ax.set_xticks([0, 1], [f"pred {c}" for c in class_names])
        ax.set_yticks([0, 1], class_names)
        ax.set_title(model)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_calibration(predictions: dict[str, pd.DataFrame], n_bins: int, path, title: str) -> None:
    """Reliability diagrams (fraction malignant against mean predicted probability, per bin) and
    precision-recall curves of the models' (recalibrated) probabilities, with sklearn's displays."""
    from sklearn.calibration import CalibrationDisplay
    from sklearn.metrics import PrecisionRecallDisplay

    figure, (reliability, precision_recall) = plt.subplots(1, 2, figsize=(10, 4.6))
    for model, table in predictions.items():
        CalibrationDisplay.from_predictions(
            table["label"], table["probability"], n_bins=n_bins, name=model, ax=reliability
        )
        PrecisionRecallDisplay.from_predictions(
            table["label"], table["probability"], name=model, ax=precision_recall
        )
    reliability.set_title("reliability")
    precision_recall.set_title("precision-recall (malignant)")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
