"""Resumable, deterministic training: the same seed gives the same model, killed or not.

Each epoch is one ``fit`` call on a batch order drawn from (seed, epoch), and after each epoch the
model (with optimizer and dropout RNG state) is checkpointed. A re-run with the same inputs picks
up after the last finished epoch and ends where an uninterrupted run ends. A checkpoint made from
other inputs or settings (its fingerprint differs), or under another global dtype policy (float32
vs mixed precision, see busflow.runtime.acceleration), is ignored, never resumed.

``keep_epoch`` chooses which epoch's weights the job returns: the last (the paper's way), or the
epoch with the best validation loss or AUC (early stopping without stopping: every epoch still
runs, so the history shows what came after). The best epoch's weights are checkpointed too, so a
resumed run returns the same epoch as an uninterrupted one.
"""

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

import busflow.models.builders  # noqa: F401  (registers the custom layers that checkpoints contain)
from busflow.errors import CollapsedModelError
from busflow.runtime.progress import Progress

HISTORY_METRICS = ["loss", "accuracy", "auc", "val_loss", "val_accuracy", "val_auc"]
# keep_epoch -> (history column, whether larger is better)
KEEP_EPOCH = {"last": None, "best_val_loss": ("val_loss", False), "best_val_auc": ("val_auc", True)}
BEST_WEIGHTS = "best.weights.h5"


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffle of one epoch: a function of (seed, epoch) alone,
    so a resumed run sees the same."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def fingerprint(settings: dict, input_files) -> str:
    """Identifies what a checkpoint was trained from: settings plus each input's size and mtime."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in sorted(map(str, input_files)):
        stat = os.stat(path)
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


class Checkpoint:
    """A folder with epoch-NNNN.keras files and state.json;
    state.json is the atomic commit point."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.state_file = self.folder / "state.json"

    def load(self, expected_fingerprint: str):
        """(model, history rows) of the last finished epoch, or None
        if there is nothing to resume."""
        if not self.state_file.is_file():
            return None
        state = json.loads(self.state_file.read_text())
        model_file = self.folder / state["model_file"]
        if state["fingerprint"] != expected_fingerprint or not model_file.is_file():
            return None
        # A reloaded model keeps the policy it was saved under: resuming a float32 run under
        # mixed precision (or back) would train one model in two precisions.
        if state.get("dtype_policy", "float32") != global_policy_name():
            return None
        model = keras.models.load_model(model_file)
        set_rng_states(model, state["rng_states"])
        return model, state["history"]

    def save(self, model: keras.Model, history: list[dict], fp: str, is_best: bool = False) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if is_best:
            # Written before state.json commits this epoch: a kill in between leaves a state whose
            # best epoch is older than the file, so resuming re-runs this epoch and rewrites it.
            model.save_weights(self.folder / BEST_WEIGHTS)
        model_name = f"epoch-{len(history):04d}.keras"
        model.save(self.folder / model_name)
        tmp = self.state_file.with_suffix(".json.tmp")
        state = {
            "fingerprint": fp,
            "model_file": model_name,
            "history": history,
            "rng_states": rng_states(model),
            "dtype_policy": global_policy_name(),
        }
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state_file)
        for old in self.folder.glob("epoch-*.keras"):
            if old.name != model_name:
                old.unlink()

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def global_policy_name() -> str:
    return keras.mixed_precision.dtype_policy().name


def seed_generators(model: keras.Model) -> list:
    """Dropout-like layers' random state, in a fixed order. Keras does not save it in .keras files,
    so without this a resumed run would draw other dropout masks than an uninterrupted one."""
    found = []
    for layer in busflow.models.builders.all_layers(model):
        found += [
            value
            for _, value in sorted(vars(layer).items())
            if isinstance(value, keras.random.SeedGenerator)
        ]
    return found


def rng_states(model: keras.Model) -> list:
    return [keras.ops.convert_to_numpy(g.state).tolist() for g in seed_generators(model)]


def set_rng_states(model: keras.Model, states: list) -> None:
    for generator, state in zip(seed_generators(model), states, strict=True):
        generator.state.assign(np.asarray(state, dtype=generator.state.dtype))


@dataclass(frozen=True)
class TrainingPlan:
    epochs: int
    batch_size: int
    seed: int
    checkpoint_dir: Path
    fingerprint: str
    keep_epoch: str = "last"
    model_name: str = "model"
    # The smallest standard deviation of validation probabilities a trained model may have
    # (training.min_val_prediction_std; 0 turns the check off).
    min_val_std: float = 0.0

    def __post_init__(self):
        if self.keep_epoch not in KEEP_EPOCH:
            raise ValueError(
                f"keep_epoch '{self.keep_epoch}' is not one of {', '.join(KEEP_EPOCH)}"
            )


def best_epoch(history: list[dict], keep_epoch: str) -> int:
    """The 1-based epoch whose weights the job keeps (the first of equal bests)."""
    if KEEP_EPOCH[keep_epoch] is None or not history:
        return len(history)
    column, larger_is_better = KEEP_EPOCH[keep_epoch]
    values = np.asarray([row[column] for row in history], dtype=float)
    values = np.where(np.isnan(values), -np.inf if larger_is_better else np.inf, values)
    return int(np.argmax(values) if larger_is_better else np.argmin(values)) + 1


class Batches(keras.utils.PyDataset):
    """The batches of one epoch in a fixed sample order, each read when fit asks for it: from an
    array or from disk (busflow.store.Rows), so a split never has to fit in memory. fit must get
    shuffle=False (fit shuffles a PyDataset's batches otherwise, which made resumed runs differ);
    then the batches, hence the model, are those of fit on the arrays in ``order``, bit for bit.
    ``progress`` (busflow.runtime.progress.Progress) hears of each batch read."""

    def __init__(self, x, y, order, batch_size: int, add_channel=False, progress=None):
        super().__init__()
        self.x, self.y, self.order = x, np.asarray(y), np.asarray(order)
        self.batch_size, self.add_channel, self.progress = int(batch_size), add_channel, progress

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.x[rows]
        if self.progress:
            self.progress.update(min((index + 1) * self.batch_size, len(self.order)))
        return (x[..., None] if self.add_channel else x), self.y[rows]


def in_order(x, y, batch_size: int, add_channel=False, progress=None) -> Batches:
    return Batches(x, y, np.arange(len(y)), batch_size, add_channel, progress)


def train_epochs(model: keras.Model, train: tuple, epochs: int, batch_size: int, seed: int) -> None:
    """Plain epochs in train_resumable's batch order, without validation or checkpoints: for a
    short, cheap stage that a resumed job simply repeats."""
    x_train, y_train = train
    for epoch in range(epochs):
        order = epoch_order(len(y_train), seed, epoch)
        model.fit(Batches(x_train, y_train, order, batch_size), shuffle=False, epochs=1, verbose=0)


def train_resumable(
    build_compiled, train: tuple, val: tuple, plan: TrainingPlan, add_channel=False, log=print
):
    """Train ``build_compiled()`` (or the checkpointed model) to plan.epochs; returns (model,
    history).

    ``train`` and ``val`` are (x, y): x an array or rows on disk (busflow.store.Rows, read batch
    by batch), possibly a uint8 image stack, which goes to the device as uint8 and is converted
    there by the model's first layer.
    """
    checkpoint = Checkpoint(plan.checkpoint_dir)
    resumed = checkpoint.load(plan.fingerprint)
    if resumed:
        model, history = resumed
        log(f"resuming from checkpoint after epoch {len(history)} of {plan.epochs}")
    else:
        keras.utils.set_random_seed(plan.seed)
        model, history = build_compiled(), []
    x_train, y_train = train
    validation = in_order(val[0], val[1], plan.batch_size, add_channel)
    for epoch in range(len(history), plan.epochs):
        started = time.perf_counter()
        # The epoch's order is drawn from (seed, epoch) and its batches read from it in turn.
        order = epoch_order(len(y_train), plan.seed, epoch)
        label = f"training epoch {epoch + 1}/{plan.epochs}"
        progress = Progress(label, len(order), log=log, final=False)
        result = model.fit(
            Batches(x_train, y_train, order, plan.batch_size, add_channel, progress),
            validation_data=validation,
            shuffle=False,
            epochs=epoch + 1,
            initial_epoch=epoch,
            verbose=0,
        )
        row = {"epoch": epoch + 1, **{k: float(result.history[k][-1]) for k in HISTORY_METRICS}}
        history.append(row)
        is_best = plan.keep_epoch != "last" and best_epoch(history, plan.keep_epoch) == len(history)
        checkpoint.save(model, history, plan.fingerprint, is_best=is_best)
        log(format_epoch(row, plan.epochs, time.perf_counter() - started))
    keep = best_epoch(history, plan.keep_epoch)
    if keep != len(history):
        model.load_weights(checkpoint.folder / BEST_WEIGHTS)
        log(f"keeping epoch {keep} of {len(history)} ({plan.keep_epoch})")
    table = pd.DataFrame(history, columns=["epoch", *HISTORY_METRICS])
    table["kept"] = table["epoch"] == keep
    require_learned(model, validation, plan, keep)
    return model, table


def require_learned(model: keras.Model, validation, plan: TrainingPlan, epoch: int) -> None:
    """Raise CollapsedModelError when the kept model's validation probabilities are not numbers
    or spread less than plan.min_val_std: such a model would enter the table as AUC 0.500.

    The checkpoint stays (only a finished, accepted model removes it), so nothing computed is
    lost; other settings change the fingerprint and start afresh.
    """
    probabilities = model.predict(validation, verbose=0).ravel()
    finite = bool(np.isfinite(probabilities).all())
    spread = float(np.std(probabilities)) if finite else float("nan")
    if finite and (plan.min_val_std == 0 or spread >= plan.min_val_std):
        return
    what = (
        "returns NaN or infinite probabilities"
        if not finite
        else f"predicts one constant (probabilities {probabilities.min():.4f} to "
        f"{probabilities.max():.4f}, standard deviation {spread:.2g} < {plan.min_val_std:g})"
    )
    raise CollapsedModelError(
        f"{plan.model_name}: the trained model (epoch {epoch} of {plan.epochs}) {what} on its "
        f"{len(probabilities)} validation samples, trained on the {keras.backend.backend()} "
        f"backend (keras {keras.__version__}). It did not learn, so nothing was written for it. "
        f"Try another training.{plan.model_name}.seed, a lower "
        f"training.{plan.model_name}.learning_rate, keep_epoch: best_val_auc, or (transfer) "
        "standardise_features: true; a model that continues another inherits its collapse, so "
        "read that one's log too. `python -m busflow.runtime.doctor` checks that the backend "
        "trains. "
        f"The checkpoint stays in {plan.checkpoint_dir}. training.min_val_prediction_std: 0 "
        "turns this check off."
    )


def format_epoch(row: dict, epochs: int, seconds: float) -> str:
    """One plain line per epoch: readable in a SLURM log, no progress-bar control characters."""
    metrics = " ".join(f"{k}={row[k]:.4f}" for k in HISTORY_METRICS)
    return f"epoch {row['epoch']}/{epochs} {metrics} ({seconds:.1f} s)"


def save_model_atomic(model: keras.Model, path) -> None:
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)
