"""Builders of the registered models (busflow/models/registry.py), Keras 3, backend-agnostic (no
tf.* here).

Every saved model takes raw grey uint8 pixels (S, S, 1): pixel scaling and VGG16's preprocessing
live inside the model, so evaluation treats all three alike.

Mixed precision (busflow.runtime.acceleration sets the global dtype policy before models are
built): every classifier's sigmoid output layer runs in float32, so probabilities and the loss are
float32 under any policy; the models that train on cached features take float32 inputs (float16
caches are cast); the feature extractor returns float32. A saved model keeps the policy it was
built under.
"""

import keras
import numpy as np
from keras import layers

from busflow.models.features import FEATURE_LAYERS, feature_below
from busflow.models.weights import require_weights_file

VGG16_MEAN_BGR = (103.939, 116.779, 123.68)
HEAD_NAME = "head"
BASE_NAME = "vgg16"


@keras.saving.register_keras_serializable(package="busflow")
class VGGInput(layers.Layer):
    """Grey (or RGB) uint8 pixels -> VGG16's 'caffe' input: BGR, ImageNet mean subtracted.

    Grey images become three equal channels, so BGR order does not matter for them. The mean is
    subtracted in float32 and the result rounded once to the compute dtype: in bfloat16 the mean
    itself would be rounded first (123.68 -> 123.5), a second error of up to a quarter grey level.
    """

    def call(self, inputs):
        x = keras.ops.cast(inputs, "float32")
        if x.shape[-1] == 1:
            x = keras.ops.repeat(x, 3, axis=-1)
        else:
            x = keras.ops.flip(x, axis=-1)
        mean = keras.ops.convert_to_tensor(VGG16_MEAN_BGR, dtype="float32")
        return keras.ops.cast(x - mean, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)


def stock_vgg_input(image_size: int) -> keras.Model:
    """VGGInput from stock layers only, the same numbers: grey to three equal channels, then the
    ImageNet mean subtracted in float32 (an export must load without busflow's layer)."""
    inputs = pixel_input(image_size)
    x = layers.Concatenate(axis=-1, name="grey_to_three_channels")([inputs, inputs, inputs])
    offset = [-value for value in VGG16_MEAN_BGR]
    x = layers.Rescaling(1.0, offset=offset, dtype="float32", name="subtract_imagenet_mean")(x)
    return keras.Model(inputs, x, name="vgg16_input")


def with_stock_layers(model: keras.Model) -> keras.Model:
    """A copy of a saved busflow model that shares its trained layers, with every VGGInput
    replaced by stock_vgg_input: it loads with stock Keras 3, without busflow, and takes and
    returns one tensor (one_tensor_in_and_out), whichever way the model was built."""
    size = int(model.inputs[0].shape[1])

    def stock(layer):
        return stock_vgg_input(size) if isinstance(layer, VGGInput) else layer

    return one_tensor_in_and_out(keras.models.clone_model(model, clone_function=stock))


def one_tensor_in_and_out(model: keras.Model) -> keras.Model:
    """The same layers and graph, called with one pixel tensor and returning one tensor.

    A functional model built from another's ``inputs`` and ``outputs`` lists (the fine-tuned
    ones: busflow.jobs.training.train_finetune_job) takes a one-element list, so its SavedModel
    was served as ``serve([x])`` where the others take ``serve(x)``. Raises ValueError naming
    the model if it has more than one input or output (no busflow classifier has)."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"model '{model.name}' has {len(model.inputs)} inputs and {len(model.outputs)} "
            "outputs; an export takes one pixel tensor and returns one probability tensor"
        )
    return keras.Model(model.inputs[0], model.outputs[0], name=model.name)


def pixel_input(image_size: int) -> keras.KerasTensor:
    return keras.Input((image_size, image_size, 1), dtype="uint8", name="pixels")


def build_baseline(image_size: int, dropout: float = 0.5) -> keras.Model:
    """The paper's small CNN trained from scratch: three conv/pool blocks, dense, dropout."""
    inputs = pixel_input(image_size)
    x = layers.Rescaling(1.0 / 255)(inputs)
    for filters in (32, 32, 64):
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(1, activation="sigmoid", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="baseline")


RANDOM_BASE_SEED = 16


def build_vgg16_base(image_size: int, weights_file=None) -> keras.Model:
    """VGG16's 13 conv layers, frozen; weights read from a local file (never downloaded here).

    Without a file the kernels are He-normal with fixed seeds: every job that builds the base
    (feature extraction, transfer) gets the same one, and activations keep their scale through
    the 13 ReLU layers, so random features stay informative.
    """
    weights = str(require_weights_file(weights_file)) if weights_file else None
    base = keras.applications.VGG16(
        include_top=False, weights=weights, input_shape=(image_size, image_size, 3)
    )
    if weights is None:
        reinitialise_he_normal(base, RANDOM_BASE_SEED)
    base.name = BASE_NAME
    base.trainable = False
    return base


def reinitialise_he_normal(model: keras.Model, seed: int) -> None:
    """He-normal conv kernels drawn with numpy, not keras.random: Keras' seeded initialisers draw
    other numbers on each backend (TensorFlow's and JAX's block5 features of the same images
    differed by up to 6.1, mean |x| 0.59 vs 0.78), so the random base, its features and every model
    on them would depend on the backend."""
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    for index, layer in enumerate(convs):
        fan_in = int(np.prod(layer.kernel.shape[:-1]))
        rng = np.random.default_rng([seed, index])
        kernel = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=layer.kernel.shape)
        if index == 0:
            # Inputs are in pixel units (about +-128 after mean subtraction). ReLU nets without
            # biases scale linearly, so this keeps the features near unit size, as a head expects.
            kernel = kernel / 64.0
        layer.kernel.assign(kernel.astype("float32"))
        layer.bias.assign(np.zeros(layer.bias.shape, "float32"))


def build_feature_extractor(base: keras.Model, image_size: int, keys) -> keras.Model:
    """Pixels -> {key: that layer's output} for each key of busflow.models.features.FEATURE_LAYERS
    asked for, float32 under any dtype policy (a bfloat16 array would not survive np.savez)."""
    taps = keras.Model(base.inputs, [base.get_layer(FEATURE_LAYERS[key]).output for key in keys])
    inputs = pixel_input(image_size)
    tapped = taps(VGGInput()(inputs))
    tapped = tapped if isinstance(tapped, (list, tuple)) else [tapped]
    outputs = {key: as_float32(tensor, f"{key}_float32") for key, tensor in zip(keys, tapped)}
    return keras.Model(inputs, outputs, name="vgg16_features")


def as_float32(tensor, name: str):
    """A float32 copy of ``tensor`` (the identity when it is float32 already)."""
    return layers.Activation("linear", dtype="float32", name=name)(tensor)


def feature_input(shape, name: str) -> keras.KerasTensor:
    """Cached features (float16 or float32 arrays) enter as float32 under any dtype policy."""
    return keras.Input(tuple(shape), dtype="float32", name=name)


HEAD_POOLING = ("flatten", "average")
STANDARDISATION_NAME = "feature_standardisation"


def feature_channel_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (last axis) mean of cached training features, and one variance for all
    channels (the mean of the channels' variances), for the head's standardisation.

    One shared scale, not one per channel: a channel that is nearly constant on the training
    features (common in a random base) would otherwise be divided by its tiny spread, and
    fine-tuning block5 under it blew the loss up to 7.2 in its first epoch on the demo.
    """
    if isinstance(features, np.ndarray):
        flat = np.asarray(features, dtype=np.float64).reshape(-1, np.shape(features)[-1])
        mean, variances = flat.mean(axis=0), flat.var(axis=0)
    else:
        mean, variances = _streamed_channel_moments(features)
    variance = np.full(mean.shape[0], max(variances.mean(), 1e-12))
    return mean.astype("float32"), variance.astype("float32")


def _streamed_channel_moments(features, batch: int = 256):
    """Per-channel mean and variance of features on disk (busflow.store.Rows), in two passes of
    ``batch`` rows, as float64 (equal to the in-memory ones up to float64 rounding)."""
    channels = features.shape[-1]
    total, count = np.zeros(channels), 0
    for _, rows in features.batches(batch):
        flat = rows.astype(np.float64).reshape(-1, channels)
        total, count = total + flat.sum(axis=0), count + len(flat)
    mean, squares = total / max(count, 1), np.zeros(channels)
    for _, rows in features.batches(batch):
        squares += ((rows.astype(np.float64).reshape(-1, channels) - mean) ** 2).sum(axis=0)
    return mean, squares / max(count, 1)


def build_head(
    feature_shape, dropout: float = 0.5, pooling: str = "flatten", l2: float = 0.0, stats=None
) -> keras.Model:
    """The classifier on bottleneck features: flatten (the paper's) or global average pooling,
    dense 256, dropout, sigmoid. Flatten on 7x7x512 features gives the dense layer 6.4M weights
    for a few hundred images; average pooling gives it 131k, and ``l2`` weight decay on both
    dense kernels reins them in further.

    ``stats`` (feature_channel_stats of the training features) puts a fixed standardisation in
    front. The features are ReLU outputs, all >= 0: without it Adam's first steps shift every
    dense unit's input the same way, and on the demo all 256 ReLUs died (the head then returns
    sigmoid(bias), one constant) in 4 of 8 seeds on JAX and 2 of 8 on TensorFlow, the rest kept
    1-3 live units; with it 16 of 16 learned (docs/results/backends/).
    """
    if pooling not in HEAD_POOLING:
        raise ValueError(f"unknown head pooling '{pooling}' (use {' or '.join(HEAD_POOLING)})")
    inputs = feature_input(feature_shape, "bottleneck")
    x = inputs
    if stats is not None:
        mean, variance = stats
        x = layers.Normalization(
            axis=-1, mean=mean, variance=variance, dtype="float32", name=STANDARDISATION_NAME
        )(x)
    x = layers.Flatten()(x) if pooling == "flatten" else layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu", kernel_regularizer=_l2(l2))(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(1, activation="sigmoid", dtype="float32", kernel_regularizer=_l2(l2))(x)
    return keras.Model(inputs, outputs, name=HEAD_NAME)


def _l2(factor: float):
    return keras.regularizers.L2(factor) if factor else None


def assemble_classifier(
    base: keras.Model, head: keras.Model, image_size: int, name: str
) -> keras.Model:
    """Pixels -> VGG input -> conv base -> head: the model that is saved and evaluated."""
    inputs = pixel_input(image_size)
    outputs = head(base(VGGInput()(inputs)))
    return keras.Model(inputs, outputs, name=name)


def trained_layer_names(base: keras.Model, blocks=(5,)) -> list[str]:
    """The layers of VGG16 conv blocks ``blocks`` (e.g. (4, 5)), in order."""
    return [
        layer.name
        for layer in base.layers
        if layer.name.startswith(tuple(f"block{b}_" for b in blocks))
    ]


def build_top_trainer(base: keras.Model, head: keras.Model, blocks=(5,)) -> keras.Model:
    """Cached features below ``blocks`` -> those blocks (trainable) -> head: what fine-tuning
    trains.

    The frozen blocks below never change, so their output is computed once (extract_vgg16_features)
    and each epoch runs only the trained blocks and the head. The layers are shared with ``base``
    and ``head``.
    """
    below = FEATURE_LAYERS[feature_below(blocks)]
    inputs = feature_input(base.get_layer(below).output.shape[1:], feature_below(blocks))
    x = inputs
    for name in trained_layer_names(base, blocks):
        layer = base.get_layer(name)
        layer.trainable = True
        x = layer(x)
    head.trainable = True
    return keras.Model(inputs, head(x), name="finetune_" + "_".join(f"block{b}" for b in blocks))


def copy_trained_layers(
    trainer: keras.Model, base: keras.Model, head: keras.Model, blocks=(5,)
) -> None:
    """Put a (possibly reloaded) trainer's weights back into the full model's layers."""
    for name in trained_layer_names(base, blocks):
        base.get_layer(name).set_weights(trainer.get_layer(name).get_weights())
    head.set_weights(trainer.get_layer(HEAD_NAME).get_weights())


def make_optimizer(
    name: str, learning_rate: float, momentum: float = 0.0, clipnorm: float | None = None
) -> keras.optimizers.Optimizer:
    """``clipnorm`` caps each gradient's norm (None: no cap). Fine-tuning block5 under a head
    trained to a loss of 0.035 took SGD (lr 0.001, momentum 0.9) to a loss of 2.7 (TensorFlow)
    and 7.2 (JAX) in its first epoch on the demo, then to one constant; with clipnorm 1.0 the
    same steps went 0.17, 0.12, 0.10."""
    options = {"learning_rate": learning_rate, "clipnorm": clipnorm}
    if name == "sgd":
        return keras.optimizers.SGD(momentum=momentum, **options)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(**options)
    if name == "adam":
        return keras.optimizers.Adam(**options)
    raise ValueError(f"unknown optimizer '{name}' (use sgd, rmsprop or adam)")


def compile_binary(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, jit_compile="auto"
) -> keras.Model:
    """Binary cross-entropy with accuracy and AUC. ``jit_compile`` ('auto', True or False) as
    busflow.runtime.acceleration.resolve_jit returns it. Under mixed_float16 Keras wraps the
    optimizer in a LossScaleOptimizer (the model's policy decides), under mixed_bfloat16 none is
    needed."""
    model.compile(
        optimizer=optimizer,
        loss="binary_crossentropy",
        metrics=["accuracy", keras.metrics.AUC(name="auc")],
        jit_compile=jit_compile,
    )
    return model


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of ``model``, the layers of nested models too, depth first (public API only:
    ``model.layers``, not Keras' private ``_flatten_layers``)."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found += all_layers(layer)
    return found
