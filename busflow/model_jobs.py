"""Rule entry points that need Keras: features, the three training jobs, evaluation.

Import this only after busflow.runtime.start_job has chosen the backend.
"""

from pathlib import Path

import keras
import numpy as np

from busflow import models
from busflow.evaluation import evaluate_predictions
from busflow.jobs import load_split, metrics_record, probabilities_table, save_json, write_csv
from busflow.training import Checkpoint, TrainingPlan, fingerprint, save_model_atomic, train_resumable


def features_job(shard_paths, weights_file, image_size: int, batch_size: int, out_npz) -> None:
    """block4_pool (float16: it is large) and block5_pool (float32) outputs of every sample."""
    data, meta = load_split(shard_paths)
    extractor = models.build_feature_extractor(models.build_vgg16_base(image_size, weights_file), image_size)
    outputs = extractor.predict(data["images"][..., None], batch_size=batch_size, verbose=0)
    np.savez(out_npz, block4=outputs["block4"].astype(np.float16), bottleneck=outputs["bottleneck"].astype(np.float32),
             labels=data["labels"], image_ids=data["image_ids"], protocol=meta["protocol"])
    print(f"features: {len(data['labels'])} samples, block4 {outputs['block4'].shape[1:]}, bottleneck {outputs['bottleneck'].shape[1:]}")


def _plan(settings: dict, inputs, checkpoint_dir) -> TrainingPlan:
    return TrainingPlan(settings["epochs"], settings["batch_size"], settings["seed"], Path(checkpoint_dir),
                        fingerprint(settings, inputs))


def _write_training_outputs(model, history, out: dict, checkpoint_dir) -> None:
    write_csv(history, out["history"])
    save_model_atomic(model, out["model"])
    # Only now is the checkpoint redundant; a kill before this line resumes from it.
    Checkpoint(checkpoint_dir).remove()


def train_baseline_job(train_shards, val_shards, settings: dict, image_size: int, out: dict) -> None:
    keras.utils.set_random_seed(settings["seed"])
    train, _ = load_split(train_shards)
    val, _ = load_split(val_shards)

    def build():
        model = models.build_baseline(image_size, settings.get("dropout", 0.5))
        return models.compile_binary(model, models.make_optimizer(settings["optimizer"], settings["learning_rate"]))

    plan = _plan(settings, [*train_shards, *val_shards], out["checkpoint"])
    model, history = train_resumable(build, (train["images"], train["labels"]), (val["images"], val["labels"]), plan, add_channel=True)
    _write_training_outputs(model, history, out, out["checkpoint"])


def _load_features(path, key: str):
    with np.load(path, allow_pickle=False) as features:
        return features[key], features["labels"]


def train_transfer_job(train_features, val_features, weights_file, settings: dict, image_size: int, out: dict) -> None:
    keras.utils.set_random_seed(settings["seed"])
    train = _load_features(train_features, "bottleneck")
    val = _load_features(val_features, "bottleneck")

    def build():
        head = models.build_head(train[0].shape[1:], settings.get("dropout", 0.5))
        return models.compile_binary(head, models.make_optimizer(settings["optimizer"], settings["learning_rate"]))

    inputs = [train_features, val_features] + ([weights_file] if weights_file else [])
    head, history = train_resumable(build, train, val, _plan(settings, inputs, out["checkpoint"]))
    base = models.build_vgg16_base(image_size, weights_file)
    head.name = models.HEAD_NAME
    _write_training_outputs(models.assemble_classifier(base, head, image_size, "transfer"), history, out, out["checkpoint"])


def train_finetune_job(train_features, val_features, transfer_model, settings: dict, out: dict) -> None:
    keras.utils.set_random_seed(settings["seed"])
    train = _load_features(train_features, "block4")
    val = _load_features(val_features, "block4")
    classifier = keras.models.load_model(transfer_model)
    base, head = classifier.get_layer(models.BASE_NAME), classifier.get_layer(models.HEAD_NAME)

    def build():
        trainer = models.build_block5_trainer(base, head)
        optimizer = models.make_optimizer("sgd", settings["learning_rate"], settings.get("momentum", 0.9))
        return models.compile_binary(trainer, optimizer)

    plan = _plan(settings, [train_features, val_features, transfer_model], out["checkpoint"])
    trainer, history = train_resumable(build, train, val, plan)
    models.copy_block5_and_head(trainer, base, head)
    finetuned = keras.Model(classifier.inputs, classifier.outputs, name="finetune")
    _write_training_outputs(finetuned, history, out, out["checkpoint"])


def evaluate_job(model_file, test_shards, model_name: str, weights: str, eval_cfg: dict, out: dict) -> None:
    data, meta = load_split(test_shards)
    model = keras.models.load_model(model_file)
    probabilities = model.predict(data["images"][..., None], batch_size=eval_cfg.get("batch_size", 64), verbose=0).ravel()
    write_csv(probabilities_table(data, probabilities), out["predictions"])
    record = metrics_record(model_name, meta, eval_cfg["seed"], weights)
    record.update(evaluate_predictions(data["labels"], probabilities, eval_cfg))
    save_json(record, out["metrics"])
    m = record["metrics"]
    print(f"{model_name}: accuracy {m['accuracy']['value']:.3f} AUC {m['auc']['value']:.3f} on {record['n']} test samples ({meta['protocol']})")
