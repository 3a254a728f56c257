# Glue shared by the rules: config validation, file lists and input functions. No rule here.
import os
import sys

from snakemake.utils import validate

# The rules' planning helpers come from the package; it is importable even when not installed.
sys.path.insert(0, workflow.basedir)
from busflow.augment.samples import fold_selection as fold_selection_of  # noqa: E402
from busflow.augment.shards import is_augmented  # noqa: E402
from busflow.code_closure import code_closure  # noqa: E402
from busflow.config.settings import check_settings, check_site_names  # noqa: E402
from busflow.config.settings import check_config_keys  # noqa: E402
from busflow.data.demo import demo_file, demo_mask_file  # noqa: E402
from busflow.data.formats import candidate_files, layout_of  # noqa: E402
from busflow.data.lesions import mask_files  # noqa: E402
from busflow.data.sites import fold_count, held_out_sites, sites_of  # noqa: E402
from busflow.evaluate.tta import tta_settings, view_count  # noqa: E402
from busflow.models.registry import MODEL_SPECS, PIXELS, model_spec  # noqa: E402
from busflow.models.registry import acceleration_settings, feature_keys  # noqa: E402
from busflow.models.registry import selected_models, training_run  # noqa: E402
from busflow.models.registry import weights_description  # noqa: E402
from busflow.models.weights import resolve_weights_file  # noqa: E402
from busflow.predict.new_images import listed_files  # noqa: E402
from busflow.runtime.backends import conda_env  # noqa: E402
from busflow.runtime.memory import rule_mem_mb, training_job  # noqa: E402
from busflow.runtime.start import import_busflow_from  # noqa: E402

# The jobs' scripts import busflow from this workflow's folder too, in whatever environment runs
# them (a conda env built from envs/*.yaml, which do not install busflow; a SLURM job, which
# parses this file again).
import_busflow_from(workflow.basedir)

# Site names and unknown keys before the schema, whose dump would not name the problem.
check_site_names(config)
check_config_keys(config)
validate(config, schema="../config/schema.yaml")
check_settings(config)

MODELS = selected_models(config)
PROTOCOL = config["split"]["protocol"]
WEIGHTS_FILE = resolve_weights_file(config["vgg16_weights"])
FOLDS = fold_count(config)
# k-fold cross-validation: per-fold files carry a {fold} wildcard, the shards are one "pool".
CV = FOLDS > 1
EXTERNAL = {entry["name"]: entry for entry in config["external"]}
# The conda env of the Keras jobs, from training.environment (cpu or gpu) and the backend.
KERAS_ENV = conda_env(config["training"])
ACCELERATION = acceleration_settings(config["training"])
# How images are cut to their lesion region (busflow.data.regions): recorded with every model.
ROI = {key: config["data"][key] for key in ("roi", "roi_margin", "roi_missing")}
TTA = tta_settings(config["evaluation"]["tta_copies"], config["augment"])
# CPU threads of a GPU job (data feeding, host-side ops); SLURM gets them as --cpus-per-task, a
# laptop scales them down to its --cores, and the job uses every CPU SLURM gives it.
GPU_JOB_THREADS = 4


wildcard_constraints:
    fold=r"\d+",


def script_code(script):
    """The busflow modules that scripts/<script> imports, directly or not: the rule's code inputs.

    Derived from the imports (busflow.code_closure), so editing any of them re-runs the rules
    that run it, and only those; tests/test_code_closure.py checks every rule uses it.
    """
    return [
        str(path)
        for path in code_closure(
            os.path.join(workflow.basedir, "scripts", script),
            os.path.join(workflow.basedir, "busflow"),
        )
    ]


def demo_images():
    """The PNGs generate_demo_data writes (empty unless demo.generate)."""
    if not config["demo"]["generate"]:
        return []
    n = config["demo"]["n_per_class"]
    return [
        str(demo_file(config["data"]["raw"], label, i))
        for label in config["data"]["classes"]
        for i in range(n)
    ]


def demo_masks():
    """The lesion masks generate_demo_data writes beside its PNGs (empty unless demo.generate)."""
    if not config["demo"]["generate"]:
        return []
    return [
        str(demo_mask_file(config["data"]["raw"], label, i))
        for label in config["data"]["classes"]
        for i in range(config["demo"]["n_per_class"])
    ]


def raw_images(wildcards):
    """What the manifest reads: every candidate file of each site of data.raw, plus the demo files
    to generate.

    Listing the files (not the folder) makes adding or removing an image re-run the manifest;
    naming the demo files up front keeps that set the same before and after generating them.
    Broken links are left out here (Snakemake would stop at planning, naming no fix): raw_layout
    re-runs the manifest, which reports them by name.
    """
    listed = [
        str(path)
        for site in sites_of(config["data"])
        for path in candidate_files(site.path, config["data"])
    ]
    return sorted(set(listed) | set(demo_images()))


def raw_masks(wildcards):
    """The lesion masks the manifest reads under data.roi (busflow.data.lesions): a new, changed
    or removed mask re-runs it."""
    listed = [
        path
        for site in sites_of(config["data"])
        for path in mask_files(site.path, config["data"], site.masks)
    ]
    demo = demo_masks() if config["data"]["roi"] != "none" else []
    return sorted(set(listed) | set(demo))


def raw_layout(wildcards):
    """The raw folders' layout as the manifest's layout checks see it (folders, nested folders,
    broken links): a param, so that a change re-runs the manifest and its checks."""
    if config["demo"]["generate"] and not os.path.exists(config["data"]["raw"]):
        # What generate_demo_data will make, so the signature is the same after it ran.
        return sorted(f"{label}/" for label in config["data"]["classes"])
    return [
        f"{site.name}:{entry}" if site.name else entry
        for site in sites_of(config["data"])
        for entry in layout_of(site.path, config["data"])
    ]


def external_images(name):
    """An external set's files (folder images, or the CSV and the images it lists)."""
    return candidate_files(EXTERNAL[name]["path"], config["data"])


def external_masks(name):
    """An external set's lesion masks under data.roi (see raw_masks)."""
    entry = EXTERNAL[name]
    return mask_files(entry["path"], config["data"], entry.get("masks"))


def external_layout(wildcards):
    """An external set's layout (see raw_layout): a change re-runs its manifest and checks."""
    return layout_of(EXTERNAL[wildcards.name]["path"], config["data"])


def external_metrics_files():
    return [
        f"results/external/{name}/eval/{model}/metrics.json"
        for name in EXTERNAL
        for model in MODELS
    ]


def n_shards(split):
    """Augmented splits (busflow.augment.shards.is_augmented) have augment.shards shards; under leak_free,
    val and test are one unaugmented shard each."""
    return config["augment"]["shards"] if is_augmented(split, PROTOCOL) else 1


def eval_split(split):
    """The paper's protocol has no val split: like the paper, it validates on the (leaky) test copies."""
    return "test" if (split == "val" and PROTOCOL == "paper") else split


def shard_files(split):
    """A split's shards; under k-fold every split reads the pool and picks its fold's samples."""
    split = "pool" if CV else eval_split(split)
    return [f"results/shards/{split}/{i}.npz" for i in range(n_shards(split))]


def features_file(split):
    return (
        "results/features/pool.npz"
        if CV
        else f"results/features/{eval_split(split)}.npz"
    )


def in_run(path, fold=None):
    """A per-run output: results/<path>, or under k-fold results/folds/<fold>/<path> (default {fold})."""
    if not CV:
        return f"results/{path}"
    return f"results/folds/{'{fold}' if fold is None else fold}/{path}"


def job_file(stem, extension):
    """A log or benchmark file; under k-fold one per fold."""
    return (
        f"results/{stem}/fold{{fold}}.{extension}"
        if CV
        else f"results/{stem}.{extension}"
    )


def split_input(wildcards):
    """k-fold jobs read split.csv to pick their fold's samples from the pool."""
    return ["results/split.csv"] if CV else []


def selection(fold):
    """What busflow.augment.samples needs to pick one fold's samples (None: the split's own shards)."""
    return fold_selection_of(config, "results/split.csv", fold) if CV else None


def fold_selection(wildcards):
    return selection(wildcards.get("fold", 0))


def checkpoint_dir(model):
    return lambda wildcards: in_run(f"models/{model}.checkpoint").format(**wildcards)


def metrics_file(model):
    """The metrics the table reports: the test split's, or the mean over the folds."""
    return f"results/{'cv' if CV else 'eval'}/{model}/metrics.json"


def predictions_file(model):
    return f"results/{'cv' if CV else 'eval'}/{model}/predictions.csv"


def held_out_site_metrics_files():
    """Leave one site out: each held-out site's own rows in the table, beside their mean."""
    if not held_out_sites(config):
        return []
    return [
        in_run(f"eval/{model}/metrics.json", fold)
        for fold in range(FOLDS)
        for model in MODELS
    ]


def history_files(model):
    return expand(in_run(f"history/{model}.csv"), fold=range(FOLDS))


def weights_input(wildcards):
    return [str(WEIGHTS_FILE)] if WEIGHTS_FILE else []


def model_weights(wildcards):
    """The table's weights column for a model: the VGG16 file it started from, or none."""
    return weights_description(model_spec(wildcards.model), weights_label())


def weights_label():
    """How the comparison table names the weights a VGG16 row started from."""
    if WEIGHTS_FILE is None:
        return "none (random init)"
    return (
        f"imagenet ({WEIGHTS_FILE.name})"
        if config["vgg16_weights"] == "imagenet"
        else f"{WEIGHTS_FILE.name} (from vgg16_weights path)"
    )


def export_dir(model, fold=None):
    """results/export/<model>, or under k-fold results/export/<model>/fold<k> (default {fold})."""
    if not CV:
        return f"results/export/{model}"
    return f"results/export/{model}/fold{'{fold}' if fold is None else fold}"


def export_dirs():
    return [export_dir(model, fold) for model in MODELS for fold in range(FOLDS)]


def export_run(wildcards):
    """What model.json records about the run (besides each model's own files)."""
    return {
        "fold": int(wildcards.fold) if CV else None,
        "folds": FOLDS,
        "protocol": PROTOCOL,
        "image_size": config["data"]["image_size"],
        "classes": config["data"]["classes"],
        "preprocess": config["data"]["preprocess"],
        "roi": ROI,
        "vgg16_weights_file": str(WEIGHTS_FILE) if WEIGHTS_FILE else None,
        "max_image_pixels": config["data"]["max_image_pixels"],
        "near_duplicate_distance": config["data"]["near_duplicate_distance"],
        "tta_views": view_count(TTA) + 1,
        "saved_model": config["export"]["saved_model"],
    }


PREDICT = {entry["name"]: entry for entry in config["predict"]}


def predict_set_files(wildcards):
    """A set's files, so that adding or changing an image re-runs its predictions."""
    return listed_files(PREDICT[wildcards.name]["path"])


def final_outputs():
    return [
        "results/comparison.csv",
        "results/comparison.md",
        "results/comparison.html",
        "results/figures/roc.png",
        "results/figures/confusion_matrices.png",
        "results/figures/calibration.png",
        *expand("results/figures/training_{model}.png", model=MODELS),
        *expand("results/figures/cam_{model}.png", model=MODELS),
        "results/model_card.md",
        "results/model_card.html",
        *export_dirs(),
        *[f"results/predictions/{entry['name']}.csv" for entry in config["predict"]],
    ]


if (
    WEIGHTS_FILE
    and config["vgg16_weights"] != "imagenet"
    and not WEIGHTS_FILE.is_file()
):
    from busflow.models.weights import missing_weights_message

    raise WorkflowError(missing_weights_message(WEIGHTS_FILE))
