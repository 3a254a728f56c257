"""The models busflow trains: one entry each, read by the rules, evaluation, the table and the
tests.

Adding a model is one ``ModelSpec`` here, its settings block under ``training:`` (config/config.yaml
and config/schema.yaml), and, if no existing builder fits, a builder in busflow/models/builders.py
(README, "Adding a model").
"""

from dataclasses import dataclass
from enum import Enum

from busflow.errors import ConfigError
from busflow.models.features import FEATURES, feature_below

# What a model's training job reads: the augmented pixel shards, or VGG16 features cached once per
# sample by extract_vgg16_features (busflow.models.features.FEATURES).
PIXELS = "pixels"


class Trainer(Enum):
    """How a model is trained; busflow.jobs.training.TRAINERS holds each one's job function (the
    registry cannot import it: that module imports Keras, which planning must not)."""

    FROM_SCRATCH = "from_scratch"  # the pixels, every layer
    HEAD = "head"  # a head on cached VGG16 bottleneck features
    FINETUNE = "finetune"  # VGG16 blocks and the head, on cached features below them


@dataclass(frozen=True)
class ModelSpec:
    """One trained model.

    name: its id in file names, rule names (train_<name>) and ``training.<name>`` settings.
    title: how the report describes it.
    reads: what its training job reads: ("pixels",) or feature keys (FEATURES).
    pretrained: starts from the ImageNet VGG16 weights (the table names them; else "trained from
        scratch").
    trainer: how it is trained (Trainer).
    starts_from: the model whose saved file it continues from (its settings come too).
    trained_blocks: VGG16 conv blocks it fine-tunes (the rest stay frozen).
    runtime: the training job's first-attempt time (minutes) on SLURM; it grows with each retry
        (its memory comes from measured peaks: busflow.runtime.memory).
    """

    name: str
    title: str
    reads: tuple[str, ...]
    pretrained: bool
    trainer: Trainer
    starts_from: str | None = None
    trained_blocks: tuple[int, ...] = ()
    runtime: int = 60

    def __post_init__(self):
        unknown = [r for r in self.reads if r != PIXELS and r not in FEATURES]
        if unknown or not self.reads:
            raise ValueError(
                f"model {self.name}: reads {self.reads}; use ({PIXELS!r},) or keys of {FEATURES}"
            )
        if self.trained_blocks and feature_below(self.trained_blocks) not in self.reads:
            raise ValueError(
                f"model {self.name}: trains blocks {self.trained_blocks}, so it reads "
                f"{feature_below(self.trained_blocks)!r}; add it to reads"
            )

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(r for r in self.reads if r in FEATURES)


MODEL_SPECS = (
    ModelSpec(
        "baseline",
        "small CNN trained from scratch",
        reads=(PIXELS,),
        pretrained=False,
        trainer=Trainer.FROM_SCRATCH,
        runtime=120,
    ),
    ModelSpec(
        "transfer",
        "VGG16 with a head trained on its bottleneck features",
        reads=("bottleneck",),
        pretrained=True,
        trainer=Trainer.HEAD,
    ),
    ModelSpec(
        "finetune",
        "VGG16 with block5 and the head fine-tuned (SGD)",
        reads=("block4", "bottleneck"),
        pretrained=True,
        trainer=Trainer.FINETUNE,
        starts_from="transfer",
        trained_blocks=(5,),
        runtime=180,
    ),
    ModelSpec(
        "finetune45",
        "VGG16 with blocks 4 and 5 and the head fine-tuned (SGD)",
        reads=("block3", "bottleneck"),
        pretrained=True,
        trainer=Trainer.FINETUNE,
        starts_from="transfer",
        trained_blocks=(4, 5),
        runtime=480,
    ),
)


def model_names() -> list[str]:
    return [spec.name for spec in MODEL_SPECS]


def selected_models(config: dict) -> list[str]:
    """config's ``models`` (None: every registered model), checked against the registry."""
    chosen = config.get("models") or model_names()  # optional: None selects all
    unknown = [name for name in chosen if name not in model_names()]
    if unknown:
        raise ConfigError(
            f"models: {', '.join(unknown)} not registered; busflow/models/registry.py has "
            f"{', '.join(model_names())}. Fix the names, or remove models: to run them all."
        )
    return list(chosen)


def model_spec(name: str) -> ModelSpec:
    for spec in MODEL_SPECS:
        if spec.name == name:
            return spec
    raise KeyError(
        f"unknown model '{name}'; busflow/models/registry.py has {', '.join(model_names())}"
    )


def feature_keys(models=None) -> list[str]:
    """The VGG16 features that ``models`` (default: every registered model), or a model one of
    them continues, read, in FEATURES order: what extraction computes. A run of the transfer
    model alone extracts the bottleneck only (block3 and block4 cost 8x its memory)."""
    names, specs = list(models or model_names()), []
    while names:
        spec = model_spec(names.pop())
        specs.append(spec)
        names += [spec.starts_from] if spec.starts_from else []
    wanted = {key for spec in specs for key in spec.features}
    return [key for key in FEATURES if key in wanted]


def weights_description(spec: ModelSpec, pretrained_label: str) -> str:
    """The table's weights column: the pretrained file's label, or how it started without one."""
    return pretrained_label if spec.pretrained else "none (trained from scratch)"


def acceleration_settings(training: dict) -> dict:
    """training's fast-path keys, as every Keras job is given them
    (busflow.runtime.acceleration)."""
    return {key: training[key] for key in ("precision", "jit_compile")}


# The keys of training_run, which scripts/train_model.py reads back from the rule's params.
TRAINING_RUN_KEYS = (
    "settings",
    "start_settings",
    "image_size",
    "weights_file",
    "selection",
    "acceleration",
    "min_val_prediction_std",
)


def training_run(config: dict, spec: ModelSpec, weights_file, selection) -> dict:
    """The ``run`` settings of a model's training job (busflow.jobs.training.train_model_job): its
    settings and those of the model it continues, the image size, the VGG16 weights file (when
    pretrained), the fold ``selection``, the fast path and the collapsed-model check. The rule
    passes each as a param of the same name; bench/experiment.py calls the job with them."""
    training = config["training"]
    return {
        "settings": training[spec.name],
        "start_settings": training[spec.starts_from] if spec.starts_from else None,
        "image_size": config["data"]["image_size"],
        "weights_file": weights_file if spec.pretrained else None,
        "selection": selection,
        "acceleration": acceleration_settings(training),
        "min_val_prediction_std": training["min_val_prediction_std"],
    }
