"""Rule entry points that need Keras: features, the three training jobs, operating points, evaluation.

Import this only after busflow.runtime.start_job has chosen the backend.
"""

import json
import os
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from busflow import models
from busflow.acceleration import apply_acceleration, model_precision, set_predict_jit
from busflow.calibration import calibration_summary
from busflow.evaluation import evaluate_predictions, metrics_record, probabilities_table
from busflow.operating_point import (OperatingPointRule, apply_operating_point, choose_operating_point,
                                     fixed_operating_point)
from busflow.outputs import read_json, save_json, write_csv
from busflow.samples import load_role, load_split, load_train_val, select_roles
from busflow.devices import device_line, device_summary, job_device, list_devices
from busflow.runtime import log_first
from busflow.training import Checkpoint, TrainingPlan, fingerprint, save_model_atomic, train_epochs, train_resumable
from busflow.tta import predict_each_with_tta, predict_with_tta, view_count


def accelerate(acceleration: dict | None) -> dict:
    """Set the dtype policy and resolve jit before any model is built or loaded; logs where the job
    runs (busflow.devices.device_line) and returns the resolved settings with that record as 'device'."""
    resolved = apply_acceleration(acceleration or {})
    threads = os.environ.get("OMP_NUM_THREADS")  # what busflow.runtime.start_job gave the frameworks
    record = job_device(resolved["backend"], list_devices(resolved["backend"]), int(threads) if threads else None)
    record.update(precision=resolved["precision"], jit_compile=resolved["jit_compile"])
    log_first(device_line(record, resolved))
    return {**resolved, "device": record}


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


def operating_point_job(model_file, val_shards, eval_cfg: dict, out_json, selection=None, acceleration=None,
                        tta=None) -> None:
    """Rule choose_operating_point: the model's threshold (and recalibration) from its validation
    images, predicted as evaluation predicts test images (same test-time views). A fixed threshold
    without recalibration reads no image."""
    rule = OperatingPointRule.from_config(eval_cfg["operating_point"])
    if rule.rule == "fixed" and eval_cfg["recalibration"] == "none":
        save_json(fixed_operating_point(rule), out_json)
        print(f"operating point: fixed threshold {rule.threshold}")
        return
    resolved = accelerate(acceleration)
    data, _ = load_role(val_shards, "val", selection)
    model = set_predict_jit(keras.models.load_model(model_file), resolved["jit_compile"])
    probabilities = predict_with_tta(_predictor(model, eval_cfg), data["images"], data["image_ids"], data["copy_index"], tta)
    chosen = choose_operating_point(data["labels"], probabilities, rule, eval_cfg["recalibration"], eval_cfg["calibration_bins"])
    save_json(chosen, out_json)
    point = chosen["operating_point"]
    print(f"operating point ({rule.rule}) on {point['n_validation']} validation images: threshold {point['threshold']:.4f}, "
          f"sensitivity {point['validation_sensitivity']:.3f}, specificity {point['validation_specificity']:.3f}")


def evaluate_job(model_file, test_shards, model_name: str, weights: str, eval_cfg: dict, out: dict, selection=None, acceleration=None,
                 tta=None, operating_point_file=None, training_device=None) -> None:
    """``tta`` (busflow.tta.tta_settings): each test sample's probability is the mean over it and its augmented views.
    ``operating_point_file`` (choose_operating_point's JSON): its recalibration and threshold are applied.
    ``training_device``: the training job's device record (its .device.json), kept in metrics.json."""
    resolved = accelerate(acceleration)
    data, meta = load_role(test_shards, "test", selection)
    model = set_predict_jit(keras.models.load_model(model_file), resolved["jit_compile"])
    raw = predict_with_tta(_predictor(model, eval_cfg), data["images"], data["image_ids"], data["copy_index"], tta)
    chosen = read_json(operating_point_file) if operating_point_file else fixed_operating_point(OperatingPointRule("fixed", 0.5, 0.9))
    probabilities, threshold = apply_operating_point(chosen, raw)
    write_csv(probabilities_table(data, probabilities).assign(threshold=threshold), out["predictions"])
    record = metrics_record(model_name, meta, eval_cfg["seed"], weights, selection)
    record["precision"] = model_precision(model)
    record["test_time_augmentation"] = view_count(tta)
    record["device"] = device_provenance(training_device, resolved["device"])
    record.update(evaluate_predictions(data["labels"], probabilities, eval_cfg, threshold))
    record.update(operating_point=chosen["operating_point"], recalibration=chosen["recalibration"],
                  calibration=calibration_summary(data["labels"], probabilities, eval_cfg["calibration_bins"]))
    save_json(record, out["metrics"])
    m = record["metrics"]
    print(f"{model_name}: accuracy {m['accuracy']['value']:.3f} AUC {m['auc']['value']:.3f}, at threshold {threshold:.4f} "
          f"sensitivity {m['sensitivity']['value']:.3f} specificity {m['specificity']['value']:.3f} "
          f"on {record['n']} test samples ({meta['protocol']})")


def device_provenance(training_device, evaluation_device: dict) -> dict:
    """metrics.json's 'device': where the model was trained (its record file, when there is one) and
    evaluated, each as a short label and as the full record."""
    training = json.loads(Path(training_device).read_text()) if training_device else None
    return {
        "training": device_summary(training) if training else "not recorded",
        "evaluation": device_summary(evaluation_device),
        "training_record": training,
        "evaluation_record": evaluation_device,
    }


def _predictor(model: keras.Model, eval_cfg: dict):
    return lambda images: model.predict(images[..., None], batch_size=eval_cfg.get("batch_size", 64), verbose=0).ravel()


def external_eval_job(model_files, manifest_csv, run: dict, eval_cfg: dict, out: dict, acceleration=None, tta=None,
                      operating_point_files=()) -> None:
    """One model on one external set, untouched by training; images also in the training data are
    left out. run: model, external (set name), protocol, weights, image_size, classes.
    Each model gets its own operating point (``operating_point_files``, aligned with ``model_files``),
    chosen on its validation images. With k-fold, every fold's model is tested: the table gets the
    fold mean (t-interval), and the record the fold-averaged (ensemble) prediction's metrics too, at
    the mean of the folds' thresholds."""
    from busflow.crossval import fold_means, fold_rows
    from busflow.errors import ConfigError
    from busflow.images import load_training_image

    resolved = accelerate(acceleration)
    table = pd.read_csv(manifest_csv, keep_default_na=False)
    used = table[~table["in_training"].astype(str).str.lower().eq("true")]
    if used.empty:
        raise ConfigError(f"{manifest_csv}: every image of external set '{run['external']}' is also in the training data; nothing to test. Point external: at other images.")
    images = np.stack([load_training_image(path, run["image_size"]) for path in used["path"]])
    labels = np.asarray([run["classes"].index(label) for label in used["label"]])
    ids, copies = used["image_id"].to_numpy(), np.zeros(len(used), dtype=int)
    fold_models = [set_predict_jit(keras.models.load_model(path), resolved["jit_compile"]) for path in model_files]
    raw = predict_each_with_tta([_predictor(model, eval_cfg) for model in fold_models], images, ids, copies, tta)
    chosen = [read_json(path) for path in operating_point_files] or [fixed_operating_point(OperatingPointRule("fixed", 0.5, 0.9))] * len(raw)
    applied = [apply_operating_point(c, p) for c, p in zip(chosen, raw)]
    bins = eval_cfg["calibration_bins"]
    records = [{"fold": i, "n": len(labels), **evaluate_predictions(labels, p, eval_cfg, t),
                "calibration": calibration_summary(labels, p, bins)} for i, (p, t) in enumerate(applied)]
    ensemble = np.mean([p for p, _ in applied], axis=0)
    thresholds = [t for _, t in applied]
    record = {
        "model": run["model"], "external": run["external"], "protocol": run["protocol"], "leaky": False,
        "seed": eval_cfg["seed"], "weights": run["weights"],
        "n_in_training_left_out": int(len(table) - len(used)), "test_time_augmentation": view_count(tta),
        "recalibration": chosen[0]["recalibration"] if len(chosen) == 1 else [c["recalibration"] for c in chosen],
        "device": device_provenance(None, resolved["device"]),
    }
    if len(model_files) == 1:
        record.update(evaluation="external set", operating_point=chosen[0]["operating_point"], **records[0])
    else:
        point = {key: chosen[0]["operating_point"][key] for key in ("rule", "target_sensitivity")}
        record.update(evaluation=f"external set, {len(model_files)} fold models", metrics=fold_means(records, eval_cfg.get("ci_level", 0.95)),
                      folds=fold_rows(records), ensemble=evaluate_predictions(labels, ensemble, eval_cfg, float(np.mean(thresholds))),
                      operating_point={**point, "thresholds": thresholds},
                      calibration={"ece": float(np.mean([r["calibration"]["ece"] for r in records])),
                                   "brier": float(np.mean([r["calibration"]["brier"] for r in records])),
                                   "of": "mean over the fold models", "ensemble": calibration_summary(labels, ensemble, bins)},
                      confusion_matrix=records[0]["confusion_matrix"], n=len(labels), n_positive=int(labels.sum()))
    save_json(record, out["metrics"])
    write_csv(pd.DataFrame({"image_id": ids, "label": labels, "probability": ensemble, "threshold": float(np.mean(thresholds))}),
              out["predictions"])
    m = record["metrics"]
    print(f"{run['model']} on external set {run['external']}: accuracy {m['accuracy']['value']:.3f} AUC {m['auc']['value']:.3f} "
          f"sensitivity {m['sensitivity']['value']:.3f} specificity {m['specificity']['value']:.3f} "
          f"on {len(labels)} images ({record['n_in_training_left_out']} left out as training duplicates)")
