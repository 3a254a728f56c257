"""Benchmark: time each stage of busflow's own code on synthetic paper-size data.

Not a test. On whatever device Keras sees (GPU, TPU or the CPU) it times, with the
workflow's own builders and fit/predict calls:

- shard_load:     busflow.shards.write_shard N grey uint8 images into .npz shards, then
                  busflow.shards.load_shards them back (page cache warm: what a job sees
                  right after the augment rule; not a cold-disk number).
- h2d_feed:       keras.ops.convert_to_tensor of uint8 batches, cast to the compute dtype
                  on the device (what the models' first layer does), synced once at the end.
- features:       build_feature_extractor(build_vgg16_base(weights file)).predict on
                  uint8 pixels, block4 + bottleneck back to the host (features_job).
- head_train:     build_head + compile_binary, one fit epoch on bottleneck-shaped
                  float32 features (train_transfer_job).
- block5_train:   build_top_trainer (block5) + SGD(momentum), one fit epoch on block4-shaped
                  float16 features, as features_job stores them (train_finetune_job).
- baseline_train: build_baseline + compile_binary, one fit epoch on uint8 pixels
                  (train_baseline_job).
- evaluate:       assemble_classifier(base, head).predict on uint8 pixels (evaluate_job).

Training epochs are what busflow.training.train_resumable does per epoch: the host
gather ``x[epoch_order(...)]`` and one ``fit`` on numpy arrays with ``shuffle=False``;
validation and checkpoint saving are left out, so the img/s is the training step's.

Timing: every model stage first runs one warm-up batch (tracing / XLA compile /
autotuning), then times whole batches only (N rounded down to a multiple of the batch,
so no retrace for a partial batch lands in the timed part); the best of --repeat passes
is reported. FLOPs come from the layer shapes (Conv2D, Dense; multiply-add = 2 FLOPs;
bias, ReLU and pooling ignored, < 1%): a training step counts forward, weight gradient
for trainable layers and input gradient where a trainable layer lies upstream. The
"peak" is a large keras.ops.matmul in the compute dtype, timed on the same device in
the same run: sampled before the stages and after each, the best sample kept.

--peer runs the VGG16 stages (features, head_train, block5_train, evaluate) again as
plain PyTorch loops (bench/torch_peer.py: hand-built VGG16, channels-last, bf16 autocast
on CUDA) and prints ours/peer. Without torch the peer is reported as unavailable.

Usage (from the repo root):
    python bench/stages.py [--size 224] [--n 21600] [--batch 64]
        [--backend jax|tensorflow|torch] [--peer/--no-peer] [--peer-path DIR] [--mixed-precision]
        [--jit auto|on|off] [--repeat 1] [--json [PATH]] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
BACKENDS = ("tensorflow", "jax", "torch")
PAPER = {"size": 224, "n": 21600, "batch": 64, "shards": 8}  # the paper: 900 images x 24
QUICK = {"size": 32, "n": 96, "batch": 32, "shards": 2, "matmul_n": 512}
VGG_MIN_SIZE = 32  # five 2x2 pools

STAGES = {
    "shard_load": "write_shard N images, then load_shards them (warm page cache)",
    "h2d_feed": "convert_to_tensor of uint8 batches + cast on the device",
    "features": "feature extractor predict: pixels -> block4 + bottleneck on the host",
    "head_train": "head fit epoch on bottleneck features (float32)",
    "block5_train": "block5 + head fit epoch on block4 features (float16), SGD",
    "baseline_train": "baseline CNN fit epoch on uint8 pixels",
    "evaluate": "assembled classifier predict on uint8 pixels",
}
PEER_STAGES = ("features", "head_train", "block5_train", "evaluate")


# --------------------------------------------------------------------------- options


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--size",
        type=int,
        help=f"image side in px (default {PAPER['size']}; --quick {QUICK['size']})",
    )
    p.add_argument(
        "--n", type=int, help=f"images per epoch (default {PAPER['n']}; --quick {QUICK['n']})"
    )
    p.add_argument(
        "--batch",
        type=int,
        help=f"batch size of every stage (default {PAPER['batch']}; --quick {QUICK['batch']})",
    )
    p.add_argument(
        "--shards", type=int, help=f"shard files (default {PAPER['shards']}, as config/paper.yaml)"
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend (default: $KERAS_BACKEND, else tensorflow)",
    )
    p.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=(
            "also run the plain-PyTorch peer of the VGG16 stages "
            "(default on; skipped without torch)"
        ),
    )
    p.add_argument(
        "--peer-path",
        metavar="DIR",
        help=(
            "site-packages holding torch, appended to sys.path (e.g. a torch venv beside this one)"
        ),
    )
    p.add_argument(
        "--mixed-precision", action="store_true", help="keras.mixed_precision policy mixed_bfloat16"
    )
    p.add_argument(
        "--jit",
        choices=("auto", "on", "off"),
        default="auto",
        help=(
            "model.jit_compile: auto is Keras' default (XLA on GPU/TPU "
            "for TF and JAX, eager for torch)"
        ),
    )
    p.add_argument(
        "--repeat", type=int, default=1, help="timed passes per stage; the best is reported"
    )
    p.add_argument(
        "--matmul-n",
        type=int,
        help="side of the peak matmul (default 8192 on an accelerator, 2048 on CPU)",
    )
    p.add_argument(
        "--config",
        default=str(REPO_ROOT / "config" / "paper.yaml"),
        help="workflow config whose training settings (optimizers, rates) are used",
    )
    p.add_argument(
        "--json",
        nargs="?",
        const="auto",
        metavar="PATH",
        help=(
            "write the results as JSON (bare --json: bench/results/<device>-<backend>-<size>.json)"
        ),
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny sizes: a smoke run (< 60 s on 2 CPU cores)"
    )
    args = p.parse_args(argv)
    defaults = {**PAPER, "matmul_n": None, **(QUICK if args.quick else {})}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    check_args(p, args)
    return args


def check_args(parser, args) -> None:
    if args.size < VGG_MIN_SIZE:
        parser.error(f"--size must be >= {VGG_MIN_SIZE} (VGG16 pools five times)")
    if args.batch < 1 or args.n < args.batch:
        parser.error("--batch must be >= 1 and --n >= --batch (whole batches are timed)")
    if args.shards < 1 or args.shards > args.n or args.repeat < 1:
        parser.error("--shards must be in [1, n] and --repeat >= 1")


def configure_environment(args) -> None:
    """Choose the backend before Keras is imported (it reads KERAS_BACKEND once)."""
    args.backend = args.backend or os.environ.get("KERAS_BACKEND") or "tensorflow"
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.peer:
        # Keras' framework and the torch peer share one GPU: by default TF and JAX grab
        # most of its memory up front and would leave the peer none.
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def import_busflow():
    """busflow from the install, or from this checkout (e.g. in a torch-only venv)."""
    try:
        import busflow  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO_ROOT))
    from busflow import models, shards, training, weights

    return models, shards, training, weights


def training_settings(config_path) -> dict:
    """The workflow's optimizer settings, so each stage runs the optimizer the workflow runs."""
    import yaml

    training = yaml.safe_load(Path(config_path).read_text())["training"]
    return {name: training[name] for name in ("baseline", "transfer", "finetune")}


# --------------------------------------------------------------------------- device


def accelerator_info() -> dict:
    """Backend-specific device name; 'kind' is gpu/tpu/cpu."""
    import keras

    backend = keras.backend.backend()
    info = {"kind": "cpu", "name": cpu_name()}
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            info = {
                "kind": "gpu",
                "name": details.get("device_name", gpus[0].name),
                "count": len(gpus),
            }
    elif backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            info = {
                "kind": device.platform,
                "name": device.device_kind,
                "count": len(jax.devices()),
            }
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            info = {
                "kind": "gpu",
                "name": torch.cuda.get_device_name(0),
                "count": torch.cuda.device_count(),
            }
    info["host_cpu"] = cpu_name()
    info["host_cores"] = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    )
    return info


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    import keras
    import numpy as np

    found = {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "numpy": np.__version__,
    }
    backend = keras.backend.backend()
    found[backend] = __import__(backend).__version__
    if backend == "jax":
        import jaxlib

        found["jaxlib"] = jaxlib.__version__
    return found


def sync(tensor) -> None:
    """Wait for the device: reading one element back needs every queued op before it."""
    import keras

    keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.ravel(tensor)[0], "float32"))


def measure_matmul_peak(dtype: str, n: int, seconds: float = 1.0) -> dict:
    """TFLOP/s of an n x n keras.ops.matmul in ``dtype``: the device's practical peak here."""
    import keras

    a = keras.random.normal((n, n), dtype=dtype, seed=1)
    b = keras.random.normal((n, n), dtype=dtype, seed=2)
    sync(keras.ops.matmul(a, b))  # warm-up: kernel selection, first-call costs
    start = time.perf_counter()
    sync(keras.ops.matmul(a, b))
    reps = max(3, math.ceil(seconds / max(time.perf_counter() - start, 1e-6)))
    start = time.perf_counter()
    for _ in range(reps):
        c = keras.ops.matmul(a, b)
    sync(c)  # one stream: the last product done means all are
    elapsed = time.perf_counter() - start
    return {
        "dtype": dtype,
        "n": n,
        "reps": reps,
        "seconds": elapsed,
        "tflops": 2 * n**3 * reps / elapsed / 1e12,
    }


class PeakMeter:
    """The matmul rate sampled before the stages and after each; the best sample is the peak.

    One sample can land in a busy moment of a shared machine (CPU numbers here swung 2x);
    on a dedicated GPU the samples agree, and their spread says so.
    """

    def __init__(self, dtype: str, n: int, seconds: float):
        self.dtype, self.n, self.seconds = dtype, n, seconds
        self.samples = []

    def sample(self) -> None:
        self.samples.append(measure_matmul_peak(self.dtype, self.n, self.seconds))

    def best(self) -> dict:
        return {
            **max(self.samples, key=lambda s: s["tflops"]),
            "all_tflops": [s["tflops"] for s in self.samples],
        }


# --------------------------------------------------------------------------- FLOPs


def iter_leaf_layers(model):
    """Layers in topological order, nested models (VGG16 base, head) opened in place."""
    for layer in model.layers:
        if getattr(layer, "layers", None):
            yield from iter_leaf_layers(layer)
        else:
            yield layer


def forward_flops(layer) -> int:
    """Per-sample FLOPs of a Conv2D or Dense layer from its kernel and first output shape."""
    import keras

    if isinstance(layer, keras.layers.Conv2D):
        kh, kw, cin, cout = layer.kernel.shape  # cin is already per group
        return 2 * kh * kw * cin * cout * math.prod(layer.output.shape[1:3])
    if isinstance(layer, keras.layers.Dense):
        fan_in, units = layer.kernel.shape
        return 2 * fan_in * units * math.prod(layer.output.shape[1:-1])
    return 0


def model_flops(model) -> dict:
    """Per-sample forward and training-step FLOPs.

    Backward = weight gradient (trainable layers) + input gradient (only where some
    trainable layer lies upstream: nothing needs the gradient of the first one's input).
    """
    forward = train = 0
    upstream_trainable = False
    for layer in iter_leaf_layers(model):
        flops = forward_flops(layer)
        trainable = bool(layer.trainable_weights)
        forward += flops
        train += flops * (1 + trainable + upstream_trainable)
        upstream_trainable = upstream_trainable or trainable
    return {"forward": forward, "train": train}


def vgg16_reference_flops(size: int) -> dict:
    """Whole VGG16 conv stack, all layers trainable, to check the
    issue's 31 / 93 GFLOP at 224 px."""
    import keras

    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(size, size, 3))
    flops = model_flops(vgg)
    return {
        "size": size,
        "forward_gflop": flops["forward"] / 1e9,
        "train_step_gflop": flops["train"] / 1e9,
        "forward_gmac": flops["forward"] / 2e9,
    }


# --------------------------------------------------------------------------- data


@dataclass
class Data:
    images: object  # (n, S, S) uint8, as load_shards returns them
    labels: object  # (n,) int8
    bottleneck: object = None  # (n, S/32, S/32, 512) float32
    block4: object = None  # (n, S/16, S/16, 512) float16


def synthetic_images(n: int, size: int, seed: int = 0):
    """Random grey pixels: speed does not depend on the values."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8), (np.arange(n) % 2).astype(np.int8)


def tiled_features(n: int, shape, dtype, seed: int):
    """n feature maps of ``shape``: 64 random non-negative (post-ReLU) ones, repeated."""
    import numpy as np

    block = np.abs(
        np.random.default_rng(seed).standard_normal((min(n, 64), *shape), dtype=np.float32)
    )
    reps = -(-n // len(block))
    return np.tile(block.astype(dtype), (reps, *[1] * len(shape)))[:n]


def shard_paths(folder: Path, count: int) -> list[Path]:
    return [folder / f"train-{i:02d}.npz" for i in range(count)]


def write_synthetic_shards(shards, folder: Path, images, labels, count: int) -> list[Path]:
    """The augment rule's output, shaped as busflow.shards writes it."""
    import numpy as np

    paths = shard_paths(folder, count)
    for i, (path, part) in enumerate(zip(paths, np.array_split(np.arange(len(labels)), count))):
        arrays = {
            "images": images[part],
            "labels": labels[part],
            "image_ids": np.asarray([f"img-{j:06d}" for j in part]),
            "copy_index": np.zeros(len(part), np.int16),
        }
        meta = {
            "protocol": "paper",
            "split": "train",
            "shard": i,
            "n_shards": count,
            "synthetic": True,
        }
        shards.write_shard(path, arrays, meta)
    return paths


# --------------------------------------------------------------------------- timing


@dataclass
class StageResult:
    stage: str
    images: int
    seconds: float
    batch: int
    gflop_per_image: float | None = None
    jit_compile: object = None
    bytes_per_image: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def img_per_s(self) -> float:
        return self.images / self.seconds

    def as_dict(self, peak_tflops: float) -> dict:
        row = asdict(self)
        row["img_per_s"] = self.img_per_s
        row["ms_per_step"] = 1e3 * self.seconds / max(1, self.images // self.batch)
        row["tflops"] = (
            self.gflop_per_image * self.img_per_s / 1e3 if self.gflop_per_image else None
        )
        row["pct_of_peak"] = 100 * row["tflops"] / peak_tflops if row["tflops"] else None
        row["gb_per_s"] = (
            self.bytes_per_image * self.img_per_s / 1e9 if self.bytes_per_image else None
        )
        return row


def best_time(run, repeat: int) -> float:
    """Best of ``repeat`` calls of ``run`` (the least disturbed by other processes)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def whole_batches(n: int, batch: int) -> int:
    return n - n % batch


def set_jit(model, jit: str):
    """Apply --jit; 'auto' keeps Keras' own choice. Returns what the model will use."""
    if jit != "auto":
        model.jit_compile = jit == "on"
    return model.jit_compile


def fit_epoch(model, training, x, y, batch: int, seed: int, epoch: int, add_channel=False) -> None:
    """One epoch as busflow.training.train_resumable runs it (minus validation and checkpoint)."""
    order = training.epoch_order(len(y), seed, epoch)
    x_epoch = x[order][..., None] if add_channel else x[order]
    model.fit(
        x_epoch,
        y[order],
        batch_size=batch,
        shuffle=False,
        epochs=epoch + 1,
        initial_epoch=epoch,
        verbose=0,
    )
    sync(model.trainable_weights[-1])  # fit may return before the device is done (JAX, torch)


def time_fit(stage, model, training, x, y, args, seed, add_channel=False, **flops) -> StageResult:
    """Warm up on one batch, then time whole-batch epochs."""
    jit = set_jit(model, args.jit)
    n = whole_batches(len(y), args.batch)
    fit_epoch(model, training, x[: args.batch], y[: args.batch], args.batch, seed, 0, add_channel)
    epochs = iter(range(1, args.repeat + 1))
    seconds = best_time(
        lambda: fit_epoch(
            model, training, x[:n], y[:n], args.batch, seed, next(epochs), add_channel
        ),
        args.repeat,
    )
    return StageResult(stage, n, seconds, args.batch, flops["train"] / 1e9, jit)


def time_predict(stage, model, x, args, **flops) -> StageResult:
    jit = set_jit(model, args.jit)
    n = whole_batches(len(x), args.batch)
    model.predict(
        x[: args.batch], batch_size=args.batch, verbose=0
    )  # warm-up; predict returns numpy: synced
    seconds = best_time(lambda: model.predict(x[:n], batch_size=args.batch, verbose=0), args.repeat)
    return StageResult(stage, n, seconds, args.batch, flops["forward"] / 1e9, jit)


# --------------------------------------------------------------------------- stages


def stage_shard_load(shards, folder: Path, args) -> tuple[StageResult, Data]:
    images, labels = synthetic_images(args.n, args.size)
    start = time.perf_counter()
    paths = write_synthetic_shards(shards, folder, images, labels, args.shards)
    write_s = time.perf_counter() - start
    del images
    shards.load_shards(paths[:1])  # warm-up: imports, allocator
    loaded = {}
    seconds = best_time(lambda: loaded.update(shards.load_shards(paths)), args.repeat)
    result = StageResult(
        "shard_load",
        args.n,
        seconds,
        args.batch,
        bytes_per_image=args.size**2,
        extra={
            "write_seconds": write_s,
            "write_img_per_s": args.n / write_s,
            "shards": args.shards,
        },
    )
    return result, Data(loaded["images"], loaded["labels"])


def feed_batches(images, batch: int, dtype: str) -> None:
    import keras

    last = None
    for start in range(0, whole_batches(len(images), batch), batch):
        tensor = keras.ops.convert_to_tensor(images[start : start + batch][..., None])
        last = keras.ops.cast(tensor, dtype)  # on the device, as VGGInput / Rescaling do
    sync(last)


def stage_h2d_feed(data: Data, args, dtype: str) -> StageResult:
    feed_batches(data.images[: args.batch], args.batch, dtype)
    seconds = best_time(lambda: feed_batches(data.images, args.batch, dtype), args.repeat)
    n = whole_batches(len(data.images), args.batch)
    return StageResult(
        "h2d_feed", n, seconds, args.batch, bytes_per_image=args.size**2, extra={"cast_to": dtype}
    )


def stage_features(models, base, data: Data, args) -> StageResult:
    extractor = models.build_feature_extractor(base, args.size)
    return time_predict(
        "features", extractor, data.images[..., None], args, **model_flops(extractor)
    )


def stage_head(models, training, base, data: Data, args, settings) -> StageResult:
    head = models.build_head(base.output.shape[1:], settings.get("dropout", 0.5))
    models.compile_binary(
        head, models.make_optimizer(settings["optimizer"], settings["learning_rate"])
    )
    return time_fit(
        "head_train",
        head,
        training,
        data.bottleneck,
        data.labels,
        args,
        settings["seed"],
        **model_flops(head),
    )


def stage_block5(models, training, base, data: Data, args, settings) -> StageResult:
    head = models.build_head(base.output.shape[1:])
    trainer = models.build_top_trainer(base, head)
    optimizer = models.make_optimizer(
        "sgd", settings["learning_rate"], settings.get("momentum", 0.9)
    )
    models.compile_binary(trainer, optimizer)
    return time_fit(
        "block5_train",
        trainer,
        training,
        data.block4,
        data.labels,
        args,
        settings["seed"],
        **model_flops(trainer),
    )


def stage_baseline(models, training, data: Data, args, settings) -> StageResult:
    model = models.build_baseline(args.size, settings.get("dropout", 0.5))
    models.compile_binary(
        model, models.make_optimizer(settings["optimizer"], settings["learning_rate"])
    )
    return time_fit(
        "baseline_train",
        model,
        training,
        data.images,
        data.labels,
        args,
        settings["seed"],
        add_channel=True,
        **model_flops(model),
    )


def stage_evaluate(models, weights_file, data: Data, args) -> StageResult:
    base = models.build_vgg16_base(args.size, weights_file)
    head = models.build_head(base.output.shape[1:])
    classifier = models.assemble_classifier(base, head, args.size, "transfer")
    return time_predict(
        "evaluate", classifier, data.images[..., None], args, **model_flops(classifier)
    )


def run_stages(args, tmp: Path, settings: dict, meter) -> tuple[list[StageResult], Data, Path]:
    """Our stages in workflow order, a peak sample after each;
    returns results, data, weights file."""
    import keras

    models, shards, training, weights = import_busflow()
    results = []

    def add(result: StageResult) -> None:
        results.append(result)
        meter.sample()

    result, data = stage_shard_load(shards, tmp, args)
    add(result)
    add(stage_h2d_feed(data, args, keras.mixed_precision.global_policy().compute_dtype))
    weights_file = weights.write_random_vgg16_notop_h5(tmp / "vgg16_notop.h5", seed=0)
    base = models.build_vgg16_base(args.size, weights_file)
    add(stage_features(models, base, data, args))
    data.bottleneck = tiled_features(args.n, base.output.shape[1:], "float32", seed=1)
    data.block4 = tiled_features(
        args.n, base.get_layer(models.FEATURE_OUTPUTS["block4"]).output.shape[1:], "float16", seed=2
    )
    add(stage_head(models, training, base, data, args, settings["transfer"]))
    add(stage_block5(models, training, base, data, args, settings["finetune"]))
    add(stage_baseline(models, training, data, args, settings["baseline"]))
    add(stage_evaluate(models, weights_file, data, args))
    return results, data, weights_file


# --------------------------------------------------------------------------- peer


def run_peer(args, data: Data, weights_file: Path, settings: dict) -> dict:
    """The torch peer's stage results, or {'available': False, 'reason': ...}."""
    if not args.peer:
        return {"available": False, "reason": "disabled (--no-peer)"}
    sys.path.insert(0, str(BENCH_DIR))
    if args.peer_path:
        sys.path.append(args.peer_path)  # appended: this environment's numpy etc. still win
    try:
        import torch_peer  # bench/torch_peer.py; needs torch
    except ImportError as error:
        return {"available": False, "reason": f"torch not importable ({error})"}
    peer = torch_peer.Peer(args.size, args.batch, weights_file)
    # Checked before the peer trains block5: both sides still hold the file's weights.
    check = peer.compare_bottleneck(
        data.images[:4], ours_bottleneck(args, weights_file, data.images[:4])
    )
    timings = peer.run_all(data, settings, args.repeat)
    return {"available": True, **peer.describe(), "stages": timings, "bottleneck_check": check}


def ours_bottleneck(args, weights_file, images):
    """Our bottleneck features of a few images, to check the peer computes the same network."""
    models, *_ = import_busflow()
    extractor = models.build_feature_extractor(
        models.build_vgg16_base(args.size, weights_file), args.size
    )
    return extractor.predict(images[..., None], batch_size=len(images), verbose=0)["bottleneck"]


# --------------------------------------------------------------------------- report


def build_report(args, device, peak, reference, rows, peer) -> dict:
    import keras

    stages = [row.as_dict(peak["tflops"]) for row in rows]
    for row in stages:
        row["description"] = STAGES[row["stage"]]
        peer_row = peer.get("stages", {}).get(row["stage"]) if peer["available"] else None
        row["peer_img_per_s"] = peer_row["img_per_s"] if peer_row else None
        row["ours_over_peer"] = row["img_per_s"] / peer_row["img_per_s"] if peer_row else None
    return {
        "name": report_name(args, device),
        "device": device,
        "backend": keras.backend.backend(),
        "versions": versions(),
        "args": vars(args),
        "policy": keras.mixed_precision.global_policy().name,
        "matmul_peak": peak,
        "vgg16_reference_flops": reference,
        "stages": stages,
        "peer": peer,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def report_name(args, device) -> str:
    if device["kind"] == "cpu":
        where = f"cpu-{device['host_cores']}core"
    else:
        where = "".join(c if c.isalnum() else "-" for c in device["name"].lower()).strip("-")
    return f"{where}-{args.backend}-{args.size}" + ("-bf16" if args.mixed_precision else "")


def fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def print_table(report: dict) -> None:
    device, peak, peer = report["device"], report["matmul_peak"], report["peer"]
    args = report["args"]
    print(
        f"device: {device['name']} ({device['kind']}); backend {report['backend']}; "
        f"policy {report['policy']}; jit {args['jit']}; size {args['size']} px, n "
        f"{args['n']}, batch {args['batch']}"
    )
    spread = f"{min(peak['all_tflops']):.2f}-{max(peak['all_tflops']):.2f}"
    print(
        f"peak: {peak['dtype']} matmul {peak['n']}x{peak['n']}: {peak['tflops']:.2f} TFLOP/s "
        f"(best of {len(peak['all_tflops'])} samples through the run, range {spread})"
    )
    ref = report["vgg16_reference_flops"]
    print(
        f"VGG16 conv stack at {ref['size']} px: {ref['forward_gflop']:.1f} GFLOP "
        f"forward ({ref['forward_gmac']:.2f} GMAC), "
        f"{ref['train_step_gflop']:.1f} GFLOP per full training step"
    )
    header = (
        f"{'stage':<15}{'img/s':>10}{'ms/step':>9}{'GFLOP/img':>11}{'TFLOP/s':>9}"
        f"{'%peak':>7}{'GB/s':>7}{'jit':>6}"
    )
    print(header + f"{'peer img/s':>12}{'ours/peer':>10}")
    no_peer = (
        "n/a" if not peer["available"] else "-"
    )  # the table itself says when the peer is missing
    for row in report["stages"]:
        missing = no_peer if row["stage"] in PEER_STAGES else "-"
        print(
            f"{row['stage']:<15}{row['img_per_s']:>10.1f}{row['ms_per_step']:>9.1f}"
            f"{fmt(row['gflop_per_image'], '.3f'):>11}{fmt(row['tflops'], '.3f'):>9}"
            f"{fmt(row['pct_of_peak'], '.1f'):>7}{fmt(row['gb_per_s'], '.2f'):>7}"
            f"{fmt(row['jit_compile'], ''):>6}"
            f"{fmt(row['peer_img_per_s'], '.1f', missing):>12}"
            f"{fmt(row['ours_over_peer'], '.2f', missing):>10}"
        )
    if peer["available"]:
        check = peer["bottleneck_check"]
        print(
            f"peer: plain PyTorch {peer['torch']} on {peer['device']}, {peer['precision']}, "
            f"channels-last; bottleneck max rel. diff vs ours {check['max_rel_diff']:.2e}"
        )
    else:
        print(f"peer: unavailable - {peer['reason']}")


def write_json(report: dict, target: str) -> Path:
    path = RESULTS_DIR / f"{report['name']}.json" if target == "auto" else Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    args = parse_args(argv)
    configure_environment(args)
    import keras  # only now: the backend is chosen

    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    device = accelerator_info()
    matmul_n = args.matmul_n or (2048 if device["kind"] == "cpu" else 8192)
    meter = PeakMeter(
        keras.mixed_precision.global_policy().compute_dtype, matmul_n, 0.3 if args.quick else 1.0
    )
    meter.sample()
    reference = vgg16_reference_flops(224)
    settings = training_settings(args.config)
    with tempfile.TemporaryDirectory(prefix="busflow-bench-") as tmp:
        rows, data, weights_file = run_stages(args, Path(tmp), settings, meter)
        peer = run_peer(args, data, weights_file, settings)
    report = build_report(args, device, meter.best(), reference, rows, peer)
    print_table(report)
    if args.json:
        print(f"wrote {write_json(report, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
