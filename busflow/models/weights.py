"""VGG16 ImageNet weights, found offline: a path, the Keras cache, or the workflow's resources/
copy.

Compute nodes on a cluster usually have no internet, so the workflow never lets Keras download at
training time. ``fetch_vgg16_weights`` (a local rule, run on the login node) downloads once;
everything else only reads a file, and a missing file is a WeightsNotFoundError that says which
file, its md5 and where to put it.
"""

import hashlib
import os
import urllib.request
from pathlib import Path

import h5py
import numpy as np

from busflow.errors import WeightsNotFoundError

VGG16_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG16_NOTOP_MD5 = "6d6bbae143d832006294945121d1f1fc"
VGG16_NOTOP_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + VGG16_NOTOP_FILE
)
RESOURCES_COPY = Path("resources") / VGG16_NOTOP_FILE

# (layer, input channels, filters) of the 13 conv layers; pools carry no weights.
VGG16_CONV_LAYERS = [
    ("block1_conv1", 3, 64),
    ("block1_conv2", 64, 64),
    ("block2_conv1", 64, 128),
    ("block2_conv2", 128, 128),
    ("block3_conv1", 128, 256),
    ("block3_conv2", 256, 256),
    ("block3_conv3", 256, 256),
    ("block4_conv1", 256, 512),
    ("block4_conv2", 512, 512),
    ("block4_conv3", 512, 512),
    ("block5_conv1", 512, 512),
    ("block5_conv2", 512, 512),
    ("block5_conv3", 512, 512),
]
VGG16_LAYER_NAMES = [
    "input_1",
    "block1_conv1",
    "block1_conv2",
    "block1_pool",
    "block2_conv1",
    "block2_conv2",
    "block2_pool",
    "block3_conv1",
    "block3_conv2",
    "block3_conv3",
    "block3_pool",
    "block4_conv1",
    "block4_conv2",
    "block4_conv3",
    "block4_pool",
    "block5_conv1",
    "block5_conv2",
    "block5_conv3",
    "block5_pool",
]


def keras_cache_file() -> Path:
    """Where Keras itself keeps downloaded application weights."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(keras_home) / "models" / VGG16_NOTOP_FILE


def resolve_weights_file(setting: str) -> Path | None:
    """The file a ``vgg16_weights`` setting means: None for 'none' (random initialisation)."""
    if setting == "none":
        return None
    if setting == "imagenet":
        cached = keras_cache_file()
        return cached if cached.is_file() else RESOURCES_COPY
    return Path(setting)


def missing_weights_message(path) -> str:
    return (
        f"VGG16 ImageNet weights not found: {path}. Expected file {VGG16_NOTOP_FILE} "
        f"(Keras' release, md5 {VGG16_NOTOP_MD5}) from {VGG16_NOTOP_URL}. Download it on a machine "
        f"with internet and put it at {RESOURCES_COPY} (or {keras_cache_file()}), or set "
        f"vgg16_weights to the path of a copy, or to 'none' for random initialisation."
    )


def require_weights_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(missing_weights_message(path))
    return path


def md5_of(path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_vgg16_weights(
    dest, url: str = VGG16_NOTOP_URL, md5: str = VGG16_NOTOP_MD5, timeout: float = 60
) -> Path:
    """Download the weights once to ``dest`` (atomically) and check the md5."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise WeightsNotFoundError(
            f"download failed ({error}). " + missing_weights_message(dest)
        ) from None
    if md5 and md5_of(tmp) != md5:
        tmp.unlink()
        raise WeightsNotFoundError(
            "downloaded file has the wrong md5. " + missing_weights_message(dest)
        )
    os.replace(tmp, dest)
    return dest


def write_random_vgg16_notop_h5(path, seed: int = 0) -> Path:
    """Write a file in the exact Keras-2 HDF5 layout of the ImageNet notop weights, random values.

    Tests and benchmarks use it to exercise the real loading path without the 58 MB download.
    """
    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shapes = {name: (cin, cout) for name, cin, cout in VGG16_CONV_LAYERS}
    with h5py.File(path, "w") as h5:
        h5.attrs["layer_names"] = np.array([n.encode() for n in VGG16_LAYER_NAMES])
        h5.attrs["backend"] = b"tensorflow"
        h5.attrs["keras_version"] = b"2.2.4"
        for name in VGG16_LAYER_NAMES:
            group = h5.create_group(name)
            if name not in shapes:
                group.attrs["weight_names"] = np.array([], dtype="S1")
                continue
            cin, cout = shapes[name]
            kernel = rng.normal(0.0, np.sqrt(2.0 / (9 * cin)), size=(3, 3, cin, cout)).astype(
                np.float32
            )
            group.attrs["weight_names"] = np.array(
                [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
            )
            group.create_dataset(f"{name}/kernel:0", data=kernel)
            group.create_dataset(f"{name}/bias:0", data=np.zeros(cout, np.float32))
    return path
