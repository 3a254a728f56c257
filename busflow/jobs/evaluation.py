"""Rule entry points that evaluate trained models: the operating point chosen on validation images,
the test split (or fold), and external sets.

Import this only after busflow.runtime.start.start_job has chosen the backend.
"""

import keras
import numpy as np
import pandas as pd

import busflow.models.builders  # noqa: F401  (registers VGGInput, which the saved VGG16 models need to load)
from busflow.augment.samples import load_role
from busflow.config.sections import EvaluationSettings
from busflow.evaluate.calibration import calibration_summary
from busflow.evaluate.crossval import fold_ensemble, fold_means, fold_rows
from busflow.evaluate.metrics import (
    ci_unit,
    evaluate_predictions,
    metrics_record,
    probabilities_table,
)
from busflow.evaluate.operating_point import (
    OperatingPointRule,
    apply_operating_point,
    choose_operating_point,
    fixed_operating_point,
)
from busflow.evaluate.tta import predict_each_with_tta, predict_with_tta, view_count
from busflow.outputs import read_json, save_json, write_csv
from busflow.runtime.acceleration import model_precision, set_predict_jit
from busflow.runtime.devices import device_summary
from busflow.runtime.keras_job import accelerate, predictor


def choose_operating_point_job(
    model_file, val_shards, eval_cfg: dict, out_json, selection=None, acceleration=None, tta=None
) -> None:
    """Rule choose_operating_point: the model's threshold (and recalibration) from its validation
    images, predicted as evaluation predicts test images (same test-time views). A fixed threshold
    without recalibration reads no image."""
    eval_cfg = EvaluationSettings.of(eval_cfg)
    rule = OperatingPointRule.from_config(eval_cfg.operating_point)
    if rule.rule == "fixed" and eval_cfg.recalibration == "none":
        save_json(fixed_operating_point(rule), out_json)
        print(f"operating point: fixed threshold {rule.threshold}")
        return
    resolved = accelerate(acceleration)
    data, _ = load_role(val_shards, "val", selection)
    model = set_predict_jit(keras.models.load_model(model_file), resolved["jit_compile"])
    probabilities = predict_with_tta(
        predictor(model, eval_cfg.batch_size),
        data["images"],
        data["image_ids"],
        data["copy_index"],
        tta,
    )
    chosen = choose_operating_point(
        data["labels"], probabilities, rule, eval_cfg.recalibration, eval_cfg.calibration_bins
    )
    save_json(chosen, out_json)
    point = chosen["operating_point"]
    print(
        f"operating point ({rule.rule}) on {point['n_validation']} validation images: threshold "
        f"{point['threshold']:.4f}, sensitivity {point['validation_sensitivity']:.3f}, specificity "
        f"{point['validation_specificity']:.3f}"
    )


def evaluate_model_job(
    model_file,
    test_shards,
    model_name: str,
    weights: str,
    eval_cfg: dict,
    out: dict,
    selection=None,
    acceleration=None,
    tta=None,
    operating_point_file=None,
    training_device=None,
    split_csv=None,
) -> None:
    """``tta`` (busflow.evaluate.tta.tta_settings): each test sample's probability is the mean over
    it and its augmented views.
    ``operating_point_file`` (choose_operating_point's JSON): its recalibration and threshold are
    applied.
    ``training_device``: the training job's device record (its .device.json), kept in
    metrics.json. ``split_csv``: each test image's group (patient or duplicate group), the unit
    the bootstrap resamples (None: each source image, its copies together)."""
    eval_cfg = EvaluationSettings.of(eval_cfg)
    resolved = accelerate(acceleration)
    data, meta = load_role(test_shards, "test", selection)
    model = set_predict_jit(keras.models.load_model(model_file), resolved["jit_compile"])
    raw = predict_with_tta(
        predictor(model, eval_cfg.batch_size),
        data["images"],
        data["image_ids"],
        data["copy_index"],
        tta,
    )
    chosen = (
        read_json(operating_point_file)
        if operating_point_file
        else fixed_operating_point(OperatingPointRule("fixed", 0.5, 0.9))
    )
    probabilities, threshold = apply_operating_point(chosen, raw)
    groups = groups_of(split_csv, data["image_ids"]) if split_csv else data["image_ids"]
    write_csv(
        probabilities_table(data, probabilities).assign(threshold=threshold, group=groups),
        out["predictions"],
    )
    record = metrics_record(model_name, meta, eval_cfg.seed, weights, selection)
    record["precision"] = model_precision(model)
    record["test_time_augmentation"] = view_count(tta)
    record["device"] = device_provenance(training_device, resolved["device"])
    unit = ci_unit(groups, meta["protocol"])
    record.update(
        evaluate_predictions(data["labels"], probabilities, eval_cfg, threshold, groups, unit)
    )
    record.update(
        operating_point=chosen["operating_point"],
        recalibration=chosen["recalibration"],
        calibration=calibration_summary(data["labels"], probabilities, eval_cfg.calibration_bins),
    )
    save_json(record, out["metrics"])
    m = record["metrics"]
    print(
        f"{model_name}: accuracy {m['accuracy']['value']:.3f} AUC {m['auc']['value']:.3f}, at "
        f"threshold {threshold:.4f} sensitivity {m['sensitivity']['value']:.3f} specificity "
        f"{m['specificity']['value']:.3f} on {record['n']} test samples ({meta['protocol']})"
    )


def groups_of(split_csv, image_ids) -> np.ndarray:
    """Each row's group key in split.csv (the same in every fold)."""
    split = pd.read_csv(split_csv, keep_default_na=False, usecols=["image_id", "group"])
    return (
        split.drop_duplicates("image_id").set_index("image_id")["group"].loc[image_ids].to_numpy()
    )


def device_provenance(training_device, evaluation_device: dict) -> dict:
    """metrics.json's 'device': where the model was trained (its record file, when there is one) and
    evaluated, each as a short label and as the full record."""
    training = read_json(training_device) if training_device else None
    return {
        "training": device_summary(training) if training else "not recorded",
        "evaluation": device_summary(evaluation_device),
        "training_record": training,
        "evaluation_record": evaluation_device,
    }


def evaluate_external_job(
    model_files,
    manifest_csv,
    run: dict,
    eval_cfg: dict,
    out: dict,
    acceleration=None,
    tta=None,
    operating_point_files=(),
) -> None:
    """One model on one external set, untouched by training; images also in the training data are
    left out. run: model, external (set name), protocol, weights, image_size, classes, preprocess
    (data.preprocess: external images go through what training images went through).
    Each model gets its own operating point (``operating_point_files``, aligned with
    ``model_files``), chosen on its validation images. With k-fold, every fold's model is tested:
    the table gets the fold mean (t-interval), and the record the fold-averaged (ensemble)
    prediction's metrics too, at the mean of the folds' thresholds."""
    eval_cfg = EvaluationSettings.of(eval_cfg)
    resolved = accelerate(acceleration)
    table = pd.read_csv(manifest_csv, keep_default_na=False)
    used = images_not_trained_on(table, manifest_csv, run["external"])
    images, labels = external_images(used, run)
    ids = used["image_id"].to_numpy()
    models = [
        set_predict_jit(keras.models.load_model(path), resolved["jit_compile"])
        for path in model_files
    ]
    raw = predict_each_with_tta(
        [predictor(model, eval_cfg.batch_size) for model in models],
        images,
        ids,
        np.zeros(len(ids), int),
        tta,
    )
    chosen = [read_json(path) for path in operating_point_files] or [
        fixed_operating_point(OperatingPointRule("fixed", 0.5, 0.9))
    ] * len(raw)
    applied = [apply_operating_point(c, p) for c, p in zip(chosen, raw)]
    record = {
        **external_provenance(run, eval_cfg, len(table) - len(used), tta, chosen),
        "device": device_provenance(None, resolved["device"]),
        **external_metrics(labels, applied, chosen, eval_cfg, groups_in(used)),
    }
    save_json(record, out["metrics"])
    write_csv(ensemble_table(ids, labels, applied), out["predictions"])
    print(external_summary(record, len(labels)))


def images_not_trained_on(table: pd.DataFrame, manifest_csv, name: str) -> pd.DataFrame:
    """The external manifest's rows that are not (near) copies of a training image; ConfigError
    when none is left."""
    from busflow.errors import ConfigError

    used = table[~table["in_training"].astype(str).str.lower().eq("true")]
    if used.empty:
        raise ConfigError(
            f"{manifest_csv}: every image of external set '{name}' is also in the "
            "training data; nothing to test. Point external: at other images."
        )
    return used


def external_images(used: pd.DataFrame, run: dict) -> tuple["ExternalImages", np.ndarray]:
    """(images, labels): images decoded and preprocessed as training images were, a chunk at a
    time when predicted, so memory does not grow with the external set."""
    return ExternalImages(used, run), np.asarray(
        [run["classes"].index(label) for label in used["label"]]
    )


class ExternalImages:
    """An external set's images, decoded when a slice of them is asked for."""

    def __init__(self, used: pd.DataFrame, run: dict):
        from busflow.data.preprocess import Preprocess
        from busflow.data.regions import RoiRule

        self.rows = [row for _, row in used.iterrows()]
        self.size, self.rule = run["image_size"], RoiRule.of(run.get("roi") or {})
        self.preprocess = Preprocess.from_config(run["preprocess"])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, rows: slice) -> np.ndarray:
        from busflow.data.regions import Region, model_input

        return np.stack(
            [
                model_input(
                    row["path"], self.size, self.preprocess, Region.from_columns(row), self.rule
                )
                for row in self.rows[rows]
            ]
        )


def external_provenance(run: dict, eval_cfg, left_out: int, tta, chosen: list[dict]) -> dict:
    """What the external record says about where its numbers come from."""
    return {
        "model": run["model"],
        "external": run["external"],
        "protocol": run["protocol"],
        "leaky": False,
        "seed": eval_cfg.seed,
        "weights": run["weights"],
        "n_in_training_left_out": int(left_out),
        "test_time_augmentation": view_count(tta),
        "recalibration": chosen[0]["recalibration"]
        if len(chosen) == 1
        else [c["recalibration"] for c in chosen],
    }


def groups_in(used: pd.DataFrame):
    """The external images' groups (patients or duplicates), the unit of their CIs."""
    return used["group"].to_numpy() if "group" in used else None


def external_metrics(
    labels, applied: list[tuple], chosen: list[dict], eval_cfg: EvaluationSettings, groups=None
) -> dict:
    """The metrics of one model (``applied``: one (probabilities, threshold) per fold model): its
    own, or under k-fold the fold means, each fold's, and the ensemble's (bootstrapped once).
    ``groups``: each image's patient or duplicate group, which the bootstrap resamples."""
    records = [
        {
            "fold": i,
            "n": len(labels),
            **evaluate_predictions(labels, p, eval_cfg, t, groups),
            "calibration": calibration_summary(labels, p, eval_cfg.calibration_bins),
        }
        for i, (p, t) in enumerate(applied)
    ]
    if len(applied) == 1:
        return {
            "evaluation": "external set",
            "operating_point": chosen[0]["operating_point"],
            **records[0],
        }
    ensemble, threshold = ensemble_of(applied)
    ensemble_record = evaluate_predictions(labels, ensemble, eval_cfg, threshold, groups)
    point = {key: chosen[0]["operating_point"][key] for key in ("rule", "target_sensitivity")}
    return {
        "evaluation": f"external set, {len(applied)} fold models",
        "metrics": fold_means(records, eval_cfg.ci_level),
        "folds": fold_rows(records),
        "ensemble": ensemble_record,
        "operating_point": {**point, "thresholds": [t for _, t in applied]},
        "calibration": {
            "ece": float(np.mean([r["calibration"]["ece"] for r in records])),
            "brier": float(np.mean([r["calibration"]["brier"] for r in records])),
            "of": "mean over the fold models",
            "ensemble": calibration_summary(labels, ensemble, eval_cfg.calibration_bins),
        },
        "confusion_matrix": ensemble_record["confusion_matrix"],
        "ci_unit": ensemble_record["ci_unit"],
        "n": len(labels),
        "n_positive": int(np.sum(labels)),
    }


def ensemble_of(applied: list[tuple]) -> tuple[np.ndarray, float]:
    """The fold models' mean probability and the mean of their thresholds."""
    return fold_ensemble([p for p, _ in applied], [t for _, t in applied])


def ensemble_table(ids, labels, applied: list[tuple]) -> pd.DataFrame:
    probability, threshold = ensemble_of(applied)
    return pd.DataFrame(
        {"image_id": ids, "label": labels, "probability": probability, "threshold": threshold}
    )


def external_summary(record: dict, n_images: int) -> str:
    m = record["metrics"]
    return (
        f"{record['model']} on external set {record['external']}: accuracy "
        f"{m['accuracy']['value']:.3f} AUC {m['auc']['value']:.3f} sensitivity "
        f"{m['sensitivity']['value']:.3f} specificity {m['specificity']['value']:.3f} on "
        f"{n_images} images ({record['n_in_training_left_out']} left out as training duplicates)"
    )
