"""Rule entry points that train: VGG16 feature extraction and the three models' training jobs.

Import this only after busflow.runtime.start_job has chosen the backend.
"""

from pathlib import Path

import keras
import numpy as np

from busflow import models
from busflow.acceleration import set_predict_jit
from busflow.keras_job import accelerate
from busflow.outputs import save_json, write_csv
from busflow.samples import load_split, load_train_val, select_roles
from busflow.training import Checkpoint, TrainingPlan, fingerprint, save_model_atomic, train_epochs, train_resumable


def features_job(shard_paths, weights_file, image_size: int, batch_size: int, out_npz, acceleration=None) -> None:
    """block4_pool (float16: it is large) and block5_pool (float32) outputs of every sample."""
    resolved = accelerate(acceleration)
    data, meta = load_split(shard_paths)
    extractor = models.build_feature_extractor(models.build_vgg16_base(image_size, weights_file), image_size)
    set_predict_jit(extractor, resolved["jit_compile"])
    outputs = extractor.predict(data["images"][..., None], batch_size=batch_size, verbose=0)
    np.savez(out_npz, block4=outputs["block4"].astype(np.float16), bottleneck=outputs["bottleneck"].astype(np.float32),
             labels=data["labels"], image_ids=data["image_ids"], copy_index=data["copy_index"], protocol=meta["protocol"])
    print(f"features: {len(data['labels'])} samples, block4 {outputs['block4'].shape[1:]}, bottleneck {outputs['bottleneck'].shape[1:]}")


def _plan(settings: dict, inputs, checkpoint_dir, selection, resolved: dict) -> TrainingPlan:
    """A checkpoint is resumed only by the same settings, fold, precision and jit on the same inputs."""
    identity = {**settings, "selection": selection, "precision": resolved["precision"], "jit_compile": resolved["jit_compile"]}
    return TrainingPlan(settings["epochs"], settings["batch_size"], settings["seed"], Path(checkpoint_dir),
                        fingerprint(identity, inputs), settings.get("keep_epoch", "last"))


def _write_training_outputs(model, history, out: dict, checkpoint_dir, resolved: dict) -> None:
    """The model, its curve and (out['device'], when given) where it was trained; then drop the checkpoint."""
    write_csv(history, out["history"])
    if out.get("device"):
        save_json(resolved["device"], out["device"])
    save_model_atomic(model, out["model"])
    # Only now is the checkpoint redundant; a kill before this line resumes from it.
    Checkpoint(checkpoint_dir).remove()


def train_baseline_job(train_shards, val_shards, settings: dict, image_size: int, out: dict, selection=None, acceleration=None) -> None:
    resolved = accelerate(acceleration)
    keras.utils.set_random_seed(settings["seed"])
    train, val = load_train_val(train_shards, val_shards, selection)

    def build():
        model = models.build_baseline(image_size, settings.get("dropout", 0.5))
        optimizer = models.make_optimizer(settings["optimizer"], settings["learning_rate"])
        return models.compile_binary(model, optimizer, jit_compile=resolved["jit_compile"])

    plan = _plan(settings, [*train_shards, *val_shards], out["checkpoint"], selection, resolved)
    model, history = train_resumable(build, (train["images"], train["labels"]), (val["images"], val["labels"]), plan, add_channel=True)
    _write_training_outputs(model, history, out, out["checkpoint"], resolved)


def _load_features(train_path, val_path, key: str, selection) -> tuple[tuple, tuple]:
    """(x, y) of train and val: the two splits' feature files, or (k-fold) one pool file, read once."""
    def read(path):
        with np.load(path, allow_pickle=False) as features:
            return {"x": features[key], "labels": features["labels"], "image_ids": features["image_ids"],
                    "copy_index": features["copy_index"]}

    if selection:
        train, val = select_roles(read(train_path), ["train", "val"], selection)
    else:
        train, val = read(train_path), read(val_path)
    return (train["x"], train["labels"]), (val["x"], val["labels"])


def train_transfer_job(train_features, val_features, weights_file, settings: dict, image_size: int, out: dict, selection=None, acceleration=None) -> None:
    resolved = accelerate(acceleration)
    keras.utils.set_random_seed(settings["seed"])
    train, val = _load_features(train_features, val_features, "bottleneck", selection)

    def build():
        return _compiled_head(train[0].shape[1:], settings, resolved["jit_compile"])

    inputs = [train_features, val_features] + ([weights_file] if weights_file else [])
    head, history = train_resumable(build, train, val, _plan(settings, inputs, out["checkpoint"], selection, resolved))
    base = models.build_vgg16_base(image_size, weights_file)
    head.name = models.HEAD_NAME
    _write_training_outputs(models.assemble_classifier(base, head, image_size, "transfer"), history, out, out["checkpoint"], resolved)


def _compiled_head(feature_shape, settings: dict, jit_compile) -> keras.Model:
    """The transfer head as ``settings`` (training.transfer) builds it, compiled with its optimizer."""
    head = models.build_head(feature_shape, settings.get("dropout", 0.5), settings.get("pooling", "flatten"), settings.get("l2", 0.0))
    optimizer = models.make_optimizer(settings["optimizer"], settings["learning_rate"])
    return models.compile_binary(head, optimizer, jit_compile=jit_compile)


def warm_up_head(head: keras.Model, features: tuple, epochs: int, head_settings: dict, jit_compile) -> None:
    """Replace ``head``'s weights by a fresh head trained only ``epochs`` epochs on bottleneck features.
    Its initial weights come from the global seed (the finetune job's), its batch order from
    ``head_settings['seed']``.

    A head trained to convergence drives the training loss to ~0, and block5 then gets almost no
    gradient; a head stopped early leaves it some (tuned on BUSI's validation folds, see bench/).
    """
    fresh = _compiled_head(features[0].shape[1:], head_settings, jit_compile)
    train_epochs(fresh, features, epochs, head_settings["batch_size"], head_settings["seed"])
    head.set_weights(fresh.get_weights())


def train_finetune_job(train_features, val_features, transfer_model, settings: dict, out: dict, selection=None, acceleration=None,
                       head_settings=None) -> None:
    """block5 + head from the transfer model; with ``head_epochs`` set, from a head retrained that
    many epochs with ``head_settings`` (training.transfer) instead of the transfer model's head."""
    resolved = accelerate(acceleration)
    keras.utils.set_random_seed(settings["seed"])
    train, val = _load_features(train_features, val_features, "block4", selection)
    classifier = keras.models.load_model(transfer_model)
    base, head = classifier.get_layer(models.BASE_NAME), classifier.get_layer(models.HEAD_NAME)
    head_epochs = settings.get("head_epochs")
    if head_epochs is not None and head_settings is None:
        raise ValueError("finetune head_epochs needs the transfer head's settings (head_settings)")

    def build():
        if head_epochs is not None:
            bottleneck, _ = _load_features(train_features, val_features, "bottleneck", selection)
            warm_up_head(head, bottleneck, head_epochs, head_settings, resolved["jit_compile"])
        trainer = models.build_block5_trainer(base, head)
        optimizer = models.make_optimizer("sgd", settings["learning_rate"], settings.get("momentum", 0.9))
        return models.compile_binary(trainer, optimizer, jit_compile=resolved["jit_compile"])

    identity = settings if head_epochs is None else {**settings, "head_settings": head_settings}
    plan = _plan(identity, [train_features, val_features, transfer_model], out["checkpoint"], selection, resolved)
    trainer, history = train_resumable(build, train, val, plan)
    models.copy_block5_and_head(trainer, base, head)
    finetuned = keras.Model(classifier.inputs, classifier.outputs, name="finetune")
    _write_training_outputs(finetuned, history, out, out["checkpoint"], resolved)
