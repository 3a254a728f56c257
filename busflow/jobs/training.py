"""Rule entry points that train: VGG16 feature extraction and each registered model's training job.

Import this only after busflow.runtime.start.start_job has chosen the backend.
"""

from pathlib import Path

import keras
import numpy as np

from busflow.augment.samples import load_split, load_train_val, select_roles
from busflow.config.sections import FitSettings
from busflow.models import builders as models
from busflow.models.features import feature_below
from busflow.models.registry import ModelSpec, Trainer, model_spec
from busflow.models.training import (
    Checkpoint,
    TrainingPlan,
    fingerprint,
    save_model_atomic,
    train_epochs,
    train_resumable,
)
from busflow.outputs import save_json, write_csv
from busflow.runtime.acceleration import set_predict_jit
from busflow.runtime.keras_job import accelerate
from busflow.runtime.progress import Progress
from busflow.store import NpzWriter, batches, open_npz


def extract_vgg16_features_job(
    shard_paths,
    weights_file,
    image_size: int,
    batch_size: int,
    out_npz,
    keys,
    acceleration=None,
) -> None:
    """The VGG16 features ``keys`` (busflow.models.registry.feature_keys) of every sample: the
    bottleneck in float32, the larger block outputs in float16. Images are read and features
    written one batch at a time (busflow.store), so memory does not grow with the split."""
    resolved = accelerate(acceleration)
    data, meta = load_split(shard_paths)
    extractor = models.build_feature_extractor(
        models.build_vgg16_base(image_size, weights_file), image_size, tuple(keys)
    )
    set_predict_jit(extractor, resolved["jit_compile"])
    images, total = data["images"], len(data["labels"])
    dtypes = {key: np.float32 if key == "bottleneck" else np.float16 for key in keys}
    shapes = {key: tuple(extractor.output[key].shape[1:]) for key in keys}
    writer = NpzWriter(out_npz, {key: ((total, *shapes[key]), dtypes[key]) for key in keys})
    progress = Progress(f"features {meta['split']}", total)
    try:
        # predict_on_batch on the same batches that predict(batch_size) would cut: same features.
        for positions, batch in batches(images, batch_size):
            outputs = extractor.predict_on_batch(batch[..., None])
            for key in keys:
                values = keras.ops.convert_to_numpy(outputs[key]).astype(dtypes[key])
                writer.write(key, int(positions[0]), values)
            progress.update(int(positions[-1]) + 1)
        writer.close(
            {
                "labels": data["labels"],
                "image_ids": data["image_ids"],
                "copy_index": data["copy_index"],
                "protocol": np.asarray(meta["protocol"]),
            }
        )
    except BaseException:
        writer.abort()
        raise
    print(f"features: {total} samples, " + ", ".join(f"{k} {shapes[k]}" for k in keys))


def train_model_job(model: str, inputs: dict, run: dict, out: dict) -> None:
    """Rule train_<model>: the registry's trainer for ``model``. inputs: train, val (shards or a
    feature file) and, for a model that continues another, start (its .keras). run: settings,
    start_settings, image_size, weights_file, selection, acceleration. out: model, history,
    device, checkpoint."""
    spec = model_spec(model)
    TRAINERS[spec.trainer](spec, inputs, {**run, "model": model}, out)


def _plan(
    settings: FitSettings, inputs, out: dict, run: dict, resolved: dict, extra=None
) -> TrainingPlan:
    """A checkpoint is resumed only by the same settings, fold,
    precision and jit on the same inputs."""
    identity = {
        **settings.as_dict(),
        **(extra or {}),
        "selection": run.get("selection"),
        "precision": resolved["precision"],
        "jit_compile": resolved["jit_compile"],
    }
    return TrainingPlan(
        settings.epochs,
        settings.batch_size,
        settings.seed,
        Path(out["checkpoint"]),
        fingerprint(identity, inputs),
        settings.keep_epoch,
        model_name=run.get("model", "model"),
        min_val_std=float(run.get("min_val_prediction_std") or 0.0),
    )


def _write_training_outputs(model, history, out: dict, checkpoint_dir, resolved: dict) -> None:
    """The model, its curve and (out['device'], when given) where it was
    trained; then drop the checkpoint."""
    write_csv(history, out["history"])
    if out.get("device"):
        save_json(resolved["device"], out["device"])
    save_model_atomic(model, out["model"])
    # Only now is the checkpoint redundant; a kill before this line resumes from it.
    Checkpoint(checkpoint_dir).remove()


def train_baseline_job(spec: ModelSpec, inputs: dict, run: dict, out: dict) -> None:
    """A CNN from scratch on the augmented pixel shards."""
    settings, selection = FitSettings.of(run["settings"]), run.get("selection")
    train_shards, val_shards = inputs["train"], inputs["val"]
    resolved = accelerate(run.get("acceleration"))
    keras.utils.set_random_seed(settings.seed)
    train, val = load_train_val(train_shards, val_shards, selection)

    def build():
        model = models.build_baseline(run["image_size"], settings.dropout)
        optimizer = models.make_optimizer(
            settings.optimizer, settings.learning_rate, clipnorm=settings.clipnorm
        )
        return models.compile_binary(model, optimizer, jit_compile=resolved["jit_compile"])

    plan = _plan(settings, [*train_shards, *val_shards], out, run, resolved)
    model, history = train_resumable(
        build,
        (train["images"], train["labels"]),
        (val["images"], val["labels"]),
        plan,
        add_channel=True,
    )
    _write_training_outputs(model, history, out, out["checkpoint"], resolved)


def _load_features(train_path, val_path, key: str, selection) -> tuple[tuple, tuple]:
    """(x, y) of train and val: the two splits' feature files, or
    (k-fold) one pool file, read once."""

    def read(path):
        # The features stay on disk (busflow.store.Rows) and are read batch by batch.
        features = open_npz(path)
        return {
            "x": features[key],
            "labels": features["labels"],
            "image_ids": features["image_ids"],
            "copy_index": features["copy_index"],
        }

    if selection:
        train, val = select_roles(read(train_path), ["train", "val"], selection)
    else:
        train, val = read(train_path), read(val_path)
    return (train["x"], train["labels"]), (val["x"], val["labels"])


def train_transfer_job(spec: ModelSpec, inputs: dict, run: dict, out: dict) -> None:
    """A head on cached VGG16 bottleneck features; saved with the frozen base in front."""
    settings, selection = FitSettings.of(run["settings"]), run.get("selection")
    weights_file, image_size = run["weights_file"], run["image_size"]
    train_features, val_features = inputs["train"], inputs["val"]
    resolved = accelerate(run.get("acceleration"))
    keras.utils.set_random_seed(settings.seed)
    train, val = _load_features(train_features, val_features, "bottleneck", selection)

    def build():
        return _compiled_head(train[0], settings, resolved["jit_compile"])

    inputs = [train_features, val_features] + ([weights_file] if weights_file else [])
    head, history = train_resumable(build, train, val, _plan(settings, inputs, out, run, resolved))
    base = models.build_vgg16_base(image_size, weights_file)
    head.name = models.HEAD_NAME
    _write_training_outputs(
        models.assemble_classifier(base, head, image_size, spec.name),
        history,
        out,
        out["checkpoint"],
        resolved,
    )


def _compiled_head(train_features, settings: FitSettings, jit_compile) -> keras.Model:
    """The transfer head as ``settings`` (training.transfer) builds it on these training
    features, compiled with its optimizer."""
    stats = models.feature_channel_stats(train_features) if settings.standardise_features else None
    head = models.build_head(
        train_features.shape[1:], settings.dropout, settings.pooling, settings.l2, stats
    )
    optimizer = models.make_optimizer(
        settings.optimizer, settings.learning_rate, clipnorm=settings.clipnorm
    )
    return models.compile_binary(head, optimizer, jit_compile=jit_compile)


def warm_up_head(
    head: keras.Model, features: tuple, epochs: int, head_settings: FitSettings, jit_compile
) -> None:
    """Replace ``head``'s weights by a fresh head trained only ``epochs`` epochs on bottleneck
    features. Its initial weights come from the global seed (the finetune job's), its batch order
    from ``head_settings.seed``.

    A head trained to convergence drives the training loss to ~0, and block5 then gets almost no
    gradient; a head stopped early leaves it some (tuned on BUSI's validation folds, see bench/).
    """
    fresh = _compiled_head(features[0], head_settings, jit_compile)
    train_epochs(fresh, features, epochs, head_settings.batch_size, head_settings.seed)
    head.set_weights(fresh.get_weights())


def train_finetune_job(spec: ModelSpec, inputs: dict, run: dict, out: dict) -> None:
    """VGG16 blocks ``spec.trained_blocks`` + head, SGD, on the cached features below them, from the
    model it starts from (inputs['start']); with ``head_epochs`` set, from a head retrained that
    many epochs with that model's settings (run['start_settings']) instead of its head."""
    settings, selection, blocks = (
        FitSettings.of(run["settings"]),
        run.get("selection"),
        spec.trained_blocks,
    )
    train_features, val_features, start_model = inputs["train"], inputs["val"], inputs["start"]
    head_settings = FitSettings.of(run["start_settings"]) if run.get("start_settings") else None
    resolved = accelerate(run.get("acceleration"))
    keras.utils.set_random_seed(settings.seed)
    train, val = _load_features(train_features, val_features, feature_below(blocks), selection)
    classifier = keras.models.load_model(start_model)
    base, head = classifier.get_layer(models.BASE_NAME), classifier.get_layer(models.HEAD_NAME)
    head_epochs = settings.head_epochs
    if head_epochs is not None and head_settings is None:
        raise ValueError(
            f"{spec.name} head_epochs needs the settings of "
            f"{spec.starts_from}'s head (start_settings)"
        )

    def build():
        if head_epochs is not None:
            bottleneck, _ = _load_features(train_features, val_features, "bottleneck", selection)
            warm_up_head(head, bottleneck, head_epochs, head_settings, resolved["jit_compile"])
        trainer = models.build_top_trainer(base, head, blocks)
        optimizer = models.make_optimizer(
            "sgd", settings.learning_rate, settings.momentum, settings.clipnorm
        )
        return models.compile_binary(trainer, optimizer, jit_compile=resolved["jit_compile"])

    extra = {} if head_epochs is None else {"head_settings": head_settings.as_dict()}
    if blocks != (5,):
        extra["trained_blocks"] = list(blocks)
    plan = _plan(
        settings,
        [train_features, val_features, start_model],
        out,
        run,
        resolved,
        extra,
    )
    trainer, history = train_resumable(build, train, val, plan)
    models.copy_trained_layers(trainer, base, head, blocks)
    finetuned = keras.Model(classifier.inputs, classifier.outputs, name=spec.name)
    _write_training_outputs(finetuned, history, out, out["checkpoint"], resolved)


# Each registry Trainer's job function (busflow.models.registry.Trainer).
TRAINERS = {
    Trainer.FROM_SCRATCH: train_baseline_job,
    Trainer.HEAD: train_transfer_job,
    Trainer.FINETUNE: train_finetune_job,
}
