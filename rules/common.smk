# Glue shared by the rules: config validation, file lists and input functions. No rule here.
import os
import sys

from snakemake.utils import validate

# The rules' planning helpers come from the package; it is importable even when not installed.
sys.path.insert(0, workflow.basedir)
from busflow.demo_data import demo_file  # noqa: E402
from busflow.manifest import LayoutRules, list_candidate_files  # noqa: E402
from busflow.weights import resolve_weights_file  # noqa: E402

validate(config, schema="../config/schema.yaml")

MODELS = ["baseline", "transfer", "finetune"]
PROTOCOL = config["split"]["protocol"]
WEIGHTS_FILE = resolve_weights_file(config["vgg16_weights"])


def package_file(name):
    """A busflow module as a rule input, so editing it re-runs the rules that use it (and only those)."""
    return os.path.join(workflow.basedir, "busflow", name)


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


def raw_images(wildcards):
    """What the manifest reads: every candidate file of data.raw, plus the demo files to generate.

    Listing the files (not the folder) makes adding or removing an image re-run the manifest;
    naming the demo files up front keeps that set the same before and after generating them.
    """
    rules = LayoutRules.from_config(config["data"])
    listed = [str(p) for p in list_candidate_files(config["data"]["raw"], rules)]
    return sorted(set(listed) | set(demo_images()))


def n_shards(split):
    """Training shards are augmented; under leak_free, val and test are one unaugmented shard each."""
    if split == "train" or PROTOCOL == "paper":
        return config["augment"]["shards"]
    return 1


def eval_split(split):
    """The paper's protocol has no val split: like the paper, it validates on the (leaky) test copies."""
    return "test" if (split == "val" and PROTOCOL == "paper") else split


def shard_files(split):
    split = eval_split(split)
    return [f"results/shards/{split}/{i}.npz" for i in range(n_shards(split))]


def weights_input(wildcards):
    return [str(WEIGHTS_FILE)] if WEIGHTS_FILE else []


def weights_label():
    """How the comparison table names the weights a VGG16 row started from."""
    if WEIGHTS_FILE is None:
        return "none (random init)"
    return (
        f"imagenet ({WEIGHTS_FILE.name})"
        if config["vgg16_weights"] == "imagenet"
        else f"{WEIGHTS_FILE.name} (from vgg16_weights path)"
    )


def final_outputs():
    return [
        "results/comparison.csv",
        "results/comparison.md",
        "results/comparison.html",
        "results/figures/roc.png",
        "results/figures/confusion_matrices.png",
        *expand("results/figures/training_{model}.png", model=MODELS),
        *expand("results/figures/cam_{model}.png", model=MODELS),
    ]


if (
    WEIGHTS_FILE
    and config["vgg16_weights"] != "imagenet"
    and not WEIGHTS_FILE.is_file()
):
    from busflow.weights import missing_weights_message

    raise WorkflowError(missing_weights_message(WEIGHTS_FILE))
