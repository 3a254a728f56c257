# Glue shared by the rules: config validation, file lists and input functions. No rule here.
# Rules that run where Snakemake runs say `localrule: True` (a `localrules:` list names the rules
# before a module renames them, e.g. to busflow_*, and then marks none).
import filecmp
import os
import shutil
import sys

from snakemake.sourcecache import LocalSourceFile
from snakemake.utils import validate


def busflow_source():
    """The folder that holds this workflow's busflow/ package, scripts/ and config/.

    Not workflow.basedir: where busflow is a module (`module busflow: snakefile: ...`), that is the
    importing workflow's folder. The folder above this file is the checkout's; from a remote
    source (github(...)) Snakemake's source cache fetches the files rules/sources.txt lists into
    .snakemake/busflow-source/ (tests/test_module.py keeps the list complete).
    """
    root = workflow.current_basedir.join("..")
    if isinstance(root, LocalSourceFile):
        return os.path.normpath(root.get_path_or_uri(secret_free=False))
    return fetched_source(root)


def fetched_source(root):
    """Copy the listed files of a remote ``root`` out of Snakemake's source cache (a file is
    rewritten only when its contents changed, so the jobs' code inputs keep their dates).
    """
    cache = workflow.sourcecache
    listing = cache.get_path(root.join("rules/sources.txt"))
    folder = os.path.abspath(os.path.join(".snakemake", "busflow-source"))
    with open(listing) as lines:
        names = [line for line in lines.read().splitlines() if line and line[0] != "#"]
    for name in names:
        fetched = cache.get_path(root.join(name))
        target = os.path.join(folder, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not (os.path.exists(target) and filecmp.cmp(fetched, target, shallow=False)):
            shutil.copyfile(fetched, target)
    return folder


SOURCE = busflow_source()
# The rules' planning helpers come from the package; it is importable even when not installed.
sys.path.insert(0, SOURCE)
from busflow.augment.samples import fold_selection as fold_selection_of  # noqa: E402
from busflow.augment.shards import is_augmented  # noqa: E402
from busflow.code_closure import code_closure  # noqa: E402
from busflow.config.settings import check_settings, check_site_names  # noqa: E402
from busflow.config.settings import check_config_keys  # noqa: E402
from busflow.data.demo import demo_file, demo_mask_file, demo_record_file  # noqa: E402
from busflow.data.demo import demo_is_written, demo_settings  # noqa: E402
from busflow.config.sites import sites_of  # noqa: E402
from busflow.data.formats import candidate_files, check_sources, layout_of  # noqa: E402
from busflow.data.lesions import mask_files  # noqa: E402
from busflow.data.sites import fold_count, held_out_sites  # noqa: E402
from busflow.evaluate.tta import tta_settings, view_count  # noqa: E402
from busflow.models.registry import MODEL_SPECS, PIXELS, model_spec  # noqa: E402
from busflow.models.registry import acceleration_settings, feature_keys  # noqa: E402
from busflow.models.registry import selected_models, training_run  # noqa: E402
from busflow.models.registry import weights_description  # noqa: E402
from busflow.models.weights import resolve_weights_file  # noqa: E402
from busflow.protocol import validates_on_test  # noqa: E402
from busflow.predict.new_images import listed_files  # noqa: E402
from busflow.runtime.backends import conda_env, container_image  # noqa: E402
from busflow.runtime.backends import data_container_image  # noqa: E402
from busflow.runtime.backends import conda_env  # noqa: E402
from busflow.runtime.memory import rule_mem_mb, training_job  # noqa: E402
from busflow.runtime.start import import_busflow_from  # noqa: E402

# The jobs' scripts import busflow from this workflow's folder too, in whatever environment runs
# them (a conda env built from envs/*.yaml, which do not install busflow; a SLURM job, which
# parses this file again).
import_busflow_from(SOURCE)

# Site names and unknown keys before the schema, whose dump would not name the problem.
check_site_names(config)
check_config_keys(config)
validate(config, schema="../config/schema.yaml")
check_settings(config)
check_sources(config)

MODELS = selected_models(config)
PROTOCOL = config["split"]["protocol"]
WEIGHTS_FILE = resolve_weights_file(config["vgg16_weights"])
FOLDS = fold_count(config)
# k-fold cross-validation: per-fold files carry a {fold} wildcard, the shards are one "pool".
CV = FOLDS > 1
EXTERNAL = {entry["name"]: entry for entry in config["external"]}
# The conda env of the Keras jobs, from training.environment (cpu or gpu) and the backend.
KERAS_ENV = conda_env(config["training"])
# Their images, with every conda env prebuilt (--sdm conda apptainer; docs/containers.md).
KERAS_CONTAINER = container_image(config["training"])
DATA_CONTAINER = data_container_image(config["training"])
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
            os.path.join(SOURCE, "scripts", script),
            os.path.join(SOURCE, "busflow"),
        )
    ]


def user_files(paths):
    """The user's files (data.raw and its masks, external and predict sets, the VGG16 weights),
    flagged so that a module's prefix leaves them where the config says: relative to the working
    directory, as when busflow runs alone. The prefix moves what busflow writes (results/).
    """
    return local([str(path) for path in paths])


def demo_images():
    """The PNGs generate_demo_data writes (empty unless demo.generate)."""
    if not config["demo"]["generate"]:
        return []
    n = config["demo"]["n_per_class"]
    return user_files(
        demo_file(config["data"]["raw"], label, i)
        for label in config["data"]["classes"]
        for i in range(n)
    )


def demo_masks():
    """The lesion masks generate_demo_data writes beside its PNGs (empty unless demo.generate)."""
    if not config["demo"]["generate"]:
        return []
    return user_files(
        demo_mask_file(config["data"]["raw"], label, i)
        for label in config["data"]["classes"]
        for i in range(config["demo"]["n_per_class"])
    )


def demo_record():
    """The record generate_demo_data leaves beside the demo (busflow.data.demo.DEMO_RECORD)."""
    if not config["demo"]["generate"]:
        return []
    return user_files([demo_record_file(config["data"]["raw"])])[0]


def demo_to_write():
    """Whether generate_demo_data has still to write the demo of this config (no record of it in
    data.raw, or one of other settings): then the manifest's inputs name every demo file.
    """
    demo = config["demo"]
    settings = demo_settings(
        demo["n_per_class"], demo["size"], demo["seed"], masks=True
    )
    return demo["generate"] and not demo_is_written(config["data"]["raw"], settings)


def raw_images(wildcards):
    """What the manifest reads: every candidate file of each site of data.raw, plus the demo files
    still to generate.

    Listing the files (not the folder) makes adding or removing an image re-run the manifest;
    naming the demo files up front keeps that set the same before and after generating them.
    Once the demo is written, its folder is data like any other: a demo image deleted drops out
    of the manifest (re-writing it instead would undo the user's change and re-run every step
    for an image that comes back the same). Broken links are left out here (Snakemake would
    stop at planning, naming no fix): raw_layout re-runs the manifest, which names them.
    """
    listed = [
        str(path)
        for site in sites_of(config["data"])
        for path in candidate_files(site.path, config["data"])
    ]
    return user_files(
        sorted(set(listed) | set(demo_images() if demo_to_write() else []))
    )


def raw_masks(wildcards):
    """The lesion masks the manifest reads under data.roi (busflow.data.lesions): a new, changed
    or removed mask re-runs it."""
    listed = [
        path
        for site in sites_of(config["data"])
        for path in mask_files(site.path, config["data"], site.masks)
    ]
    demo = demo_masks() if config["data"]["roi"] != "none" and demo_to_write() else []
    return user_files(sorted(set(listed) | set(demo)))


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
    return user_files(candidate_files(EXTERNAL[name]["path"], config["data"]))


def external_masks(name):
    """An external set's lesion masks under data.roi (see raw_masks)."""
    entry = EXTERNAL[name]
    return user_files(mask_files(entry["path"], config["data"], entry.get("masks")))


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
    return "test" if (split == "val" and validates_on_test(PROTOCOL)) else split


def shard_files(split):
    """A split's shards; under k-fold every split reads the pool and picks its fold's samples."""
    split = shard_split(split)
    return [f"results/shards/{split}/{i}.npz" for i in range(n_shards(split))]


def shard_split(split):
    """The shards a split's samples come from: its own, the paper's test for val, or the pool."""
    return "pool" if CV else eval_split(split)


def shard_splits():
    """The splits that have shards, each with its slice of the manifest (rule split_views)."""
    return sorted({shard_split(split) for split in ("train", "val", "test")})


def view_files(split):
    """A shard split's slices of the manifest and the split (busflow.split.views)."""
    return {
        f"{split}_{table}": f"results/splits/{split}/{table}.csv"
        for table in ("manifest", "split")
    }


def views_of(*splits):
    """Input function: the slices that the shards of ``splits`` are made from ("{split}": the
    job's wildcard). It asks the split_views checkpoint, so that once that has run, Snakemake
    plans the job again and skips it when its slices came out the same: a test image's new
    pixels re-run no training (see busflow/split/views.py)."""

    def inputs(wildcards):
        checkpoints.split_views.get()
        names = [split.format(**wildcards) for split in splits]
        return sorted(
            {path for name in names for path in view_files(shard_split(name)).values()}
        )

    return inputs


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


def checkpoint_dir(wildcards, output):
    """<model>.checkpoint beside the job's <model>.keras: derived from the output, so that it moves
    with a module's prefix (a param's path would not)."""
    return output.model.removesuffix(".keras") + ".checkpoint"


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
    return user_files([WEIGHTS_FILE] if WEIGHTS_FILE else [])


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
        "onnx": config["export"]["onnx"],
    }


PREDICT = {entry["name"]: entry for entry in config["predict"]}


def predict_set_files(wildcards):
    """A set's files, so that adding or changing an image re-runs its predictions."""
    return user_files(listed_files(PREDICT[wildcards.name]["path"]))


def final_outputs():
    return [
        "results/comparison.csv",
        "results/comparison.md",
        "results/comparison.html",
        "results/figures/roc.png",
        "results/figures/confusion_matrices.png",
        "results/figures/calibration.png",
        *expand(
            "results/figures/external/{name}/{figure}.png",
            name=EXTERNAL,
            figure=["roc", "calibration"],
        ),
        *expand("results/figures/training_{model}.png", model=MODELS),
        *expand("results/figures/cam_{model}.png", model=MODELS),
        "results/model_card.md",
        "results/model_card.html",
        *export_dirs(),
        "results/export/index.json",
        *[f"results/predictions/{entry['name']}.csv" for entry in config["predict"]],
    ]


if (
    WEIGHTS_FILE
    and config["vgg16_weights"] != "imagenet"
    and not WEIGHTS_FILE.is_file()
):
    from busflow.models.weights import missing_weights_message

    raise WorkflowError(missing_weights_message(WEIGHTS_FILE))
