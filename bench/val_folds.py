"""What the tune_* benches share: a finished k-fold run's cached pool features and split, the
leak-free selection of a fold's samples, validation scores and the JSON-lines output.
Nothing here reads a test fold."""

import json

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

IDS = ("labels", "image_ids", "copy_index")


def load_run(run: str, features: dict[str, str], folds: int, keep_original: bool) -> tuple[dict, pd.DataFrame, dict]:
    """(arrays, split table, selection) of ``run``; ``features`` maps array names to pool.npz keys."""
    with np.load(f"{run}/results/features/pool.npz") as pool:
        arrays = {name: pool[key] for name, key in features.items()} | {key: pool[key] for key in IDS}
    table = pd.read_csv(f"{run}/results/split.csv", keep_default_na=False)
    # Leak-free folds come from split.csv; the seed only matters to the paper protocol's masks.
    selection = {"protocol": "leak_free", "keep_original": keep_original, "seed": 42, "folds": folds}
    return arrays, table, selection


def val_scores(model, x, y, batch_size: int = 64) -> tuple[float, float, float]:
    """sklearn AUC, accuracy at 0.5 and log-loss; NaN for a diverged model (NaN outputs)."""
    p = model.predict(x, verbose=0, batch_size=batch_size).ravel()
    if not np.isfinite(p).all():
        return np.nan, np.nan, np.nan
    loss = float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]))
    return roc_auc_score(y, p), float(((p > 0.5) == y).mean()), loss


def emit(record: dict, path=None) -> None:
    """Print one JSON line and, with ``path``, append it there."""
    print(json.dumps(record), flush=True)
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(record) + "\n")
