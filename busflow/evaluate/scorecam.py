"""Class-activation heat maps for the report, backend-agnostic: Score-CAM, not Grad-CAM.

Grad-CAM weights the last conv layer's channels by the gradient of the class score. Keras 3 has no
backend-neutral way to take that gradient (TensorFlow needs ``tf.GradientTape``, JAX ``jax.grad``,
PyTorch ``torch.autograd``), and busflow keeps ``tf.*`` out of its code so that the same code runs
on every backend. So this module computes **Score-CAM** (Wang et al., CVPR Workshops 2020,
"Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks"), which needs only
forward passes and ``keras.ops``, so the same code runs on TensorFlow, JAX and PyTorch (the tests
run it on TensorFlow; other backends' bilinear resizing may differ in the last digits):

1. A = the target conv layer's activations for the image (last conv layer: the baseline's last
   ``Conv2D``, VGG16's ``block5_conv3`` inside the nested ``vgg16`` model of transfer/finetune).
2. Keep the ``top_k`` channels with the largest mean activation: each kept channel costs one
   forward pass, and weakly active channels add little to the sum in step 5.
3. Each kept channel, upsampled to the image size and min-max scaled to [0, 1], is a soft mask: the
   image where the mask is 1, the image's mean grey where it is 0 (not black: in ultrasound dark
   means lesion, so a black fill would itself look like evidence). The masked image goes through
   the whole model.
4. The channel's weight is the increase of the explained class's probability over the flat
   mean-grey image, clipped at 0 (Score-CAM's "increase of confidence"; the paper's softmax over
   channels is left out: on one sigmoid output it flattens the weights to almost uniform).
5. Heat map = ReLU(sum of weight x upsampled activation), min-max scaled per image as in the
   authors' code: 1 where the class gets most support in that image, 0 where least. All zeros when
   the map is flat, e.g. when no channel raises the class's probability.

The explained class is the predicted one (probability >= 0.5: the second class, else the first).
The rule is scorecam_examples (first asked for as Grad-CAM heat maps); everything it shows is
labelled Score-CAM. Import this only after busflow.runtime.start.start_job has chosen the
backend.
"""

from dataclasses import dataclass

import keras
import numpy as np

import busflow.models.builders  # noqa: F401  (registers VGGInput, which the saved VGG16 models need to load)

DEFAULT_TOP_K = 32
CONV_TYPES = (keras.layers.Conv2D,)


@dataclass
class CamResult:
    heatmaps: np.ndarray  # (N, S, S) float32 in [0, 1]
    probabilities: np.ndarray  # (N,) the model's output (probability of the second class)
    layer_path: tuple[str, ...]  # the target layer, with the nested models that hold it


def last_conv_layer_path(model: keras.Model) -> tuple[str, ...]:
    """Names leading to the model's last conv layer, e.g. ('vgg16',
    'block5_conv3') or ('conv2d_2',)."""
    found = None
    for layer in model.layers:
        if isinstance(layer, CONV_TYPES):
            found = (layer.name,)
        elif isinstance(layer, keras.Model):
            try:
                found = (layer.name, *last_conv_layer_path(layer))
            except ValueError:
                pass
    if found is None:
        raise ValueError(f"model '{model.name}' has no Conv2D layer to explain")
    return found


def activation_model(model: keras.Model, layer_path) -> keras.Model:
    """Pixels -> the target layer's output, also when the layer sits inside a nested model.

    A top-level layer is read from the model's own graph. For a nested one (pixels -> VGGInput ->
    'vgg16' -> 'head'), the top-level layers up to the nested model are applied again to a new input
    (they form a chain in every busflow model), then the nested model cut at the target layer.
    """
    layer_path = tuple(layer_path)
    if len(layer_path) == 1:
        return keras.Model(
            model.inputs, model.get_layer(layer_path[0]).output, name="cam_activations"
        )
    inputs = keras.Input(model.inputs[0].shape[1:], dtype=model.inputs[0].dtype, name="pixels")
    x = inputs
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if layer.name == layer_path[0]:
            return keras.Model(
                inputs, activation_model(layer, layer_path[1:])(x), name="cam_activations"
            )
        x = layer(x)
    raise ValueError(f"no layer '{layer_path[0]}' in model '{model.name}'")


def _predict(model: keras.Model, x, batch_size: int) -> np.ndarray:
    return np.asarray(
        model.predict(np.asarray(x), batch_size=batch_size, verbose=0), dtype=np.float32
    )


def _to_pixels(x, dtype) -> np.ndarray:
    """Float pixel values back to the model's input type (uint8 for busflow models)."""
    if np.issubdtype(dtype, np.integer):
        limits = np.iinfo(dtype)
        x = keras.ops.clip(keras.ops.round(x), limits.min, limits.max)
    return keras.ops.convert_to_numpy(keras.ops.cast(x, str(dtype)))


def _class_score(probabilities, positive):
    """Probability of the explained class: p where it is the second class, 1 - p where the first."""
    return keras.ops.where(positive, probabilities, 1.0 - probabilities)


def score_cam(
    model: keras.Model,
    images: np.ndarray,
    layer_path=None,
    top_k: int = DEFAULT_TOP_K,
    batch_size: int = 64,
    decide=None,
) -> CamResult:
    """Score-CAM heat maps of the predicted class for uint8 images (N, S, S) or (N, S, S, C).

    ``decide`` maps the model's probabilities to the predicted class (True: the second); default
    probability >= 0.5, the workflow passes its operating point (busflow.jobs.scorecam).
    Costs 2 + top_k forward passes per image (the image, its flat mean, the masks), no gradients.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    n, height, width, _ = images.shape
    layer_path = tuple(layer_path) if layer_path else last_conv_layer_path(model)

    probabilities = _predict(model, images, batch_size).reshape(n)
    activations = _predict(activation_model(model, layer_path), images, batch_size)  # (N, h, w, K)
    k = min(top_k, activations.shape[-1])

    # The top_k channels by mean activation, per image.
    _, channels = keras.ops.top_k(keras.ops.mean(activations, axis=(1, 2)), k)
    index = keras.ops.broadcast_to(channels[:, None, None, :], (*activations.shape[:3], k))
    kept = keras.ops.take_along_axis(activations, index, axis=-1)
    upsampled = keras.ops.image.resize(
        kept, (height, width), interpolation="bilinear"
    )  # (N, S, S, k)

    # Each channel scaled to [0, 1] is a soft mask (a flat channel keeps nothing: weight 0).
    low = keras.ops.min(upsampled, axis=(1, 2), keepdims=True)
    high = keras.ops.max(upsampled, axis=(1, 2), keepdims=True)
    span = high - low
    masks = keras.ops.where(span > 0, (upsampled - low) / keras.ops.maximum(span, 1e-12), 0.0)
    masks = keras.ops.transpose(masks, (0, 3, 1, 2))  # (N, k, S, S)
    # Masked-out pixels take the image's mean grey (see the module docstring); the reference is the
    # flat mean image.
    pixels = keras.ops.cast(images, "float32")
    fill = keras.ops.mean(pixels, axis=(1, 2), keepdims=True)  # (N, 1, 1, C)
    masks = masks[..., None]  # (N, k, S, S, 1)
    masked = pixels[:, None] * masks + fill[:, None] * (1.0 - masks)
    masked = keras.ops.reshape(masked, (n * k, height, width, images.shape[-1]))
    flat = keras.ops.broadcast_to(fill, pixels.shape)

    masked_probabilities = keras.ops.reshape(
        _predict(model, _to_pixels(masked, images.dtype), batch_size), (n, k)
    )
    flat_probabilities = _predict(model, _to_pixels(flat, images.dtype), batch_size).reshape(n)

    positive = keras.ops.convert_to_tensor(
        decide(probabilities) if decide else probabilities >= 0.5
    )
    scores = _class_score(masked_probabilities, positive[:, None])
    weights = keras.ops.relu(scores - _class_score(flat_probabilities, positive)[:, None])  # (N, k)

    cam = keras.ops.relu(keras.ops.einsum("nhwk,nk->nhw", upsampled, weights))
    low = keras.ops.min(cam, axis=(1, 2), keepdims=True)
    span = keras.ops.max(cam, axis=(1, 2), keepdims=True) - low
    cam = keras.ops.where(span > 0, (cam - low) / keras.ops.maximum(span, 1e-12), 0.0)
    heatmaps = keras.ops.convert_to_numpy(cam).astype(np.float32)
    return CamResult(heatmaps, probabilities, layer_path)


def pick_examples(labels, image_ids, copy_index, per_class: int) -> np.ndarray:
    """Indices of up to ``per_class`` originals (copy 0) per class,
    spread evenly over the sorted ids."""
    labels, image_ids, copy_index = (
        np.asarray(labels),
        np.asarray(image_ids),
        np.asarray(copy_index),
    )
    picked = []
    for label in np.unique(labels):
        candidates = np.flatnonzero((labels == label) & (copy_index == 0))
        if candidates.size == 0:
            candidates = np.flatnonzero(labels == label)
        _, first = np.unique(
            image_ids[candidates], return_index=True
        )  # one sample per image, sorted ids
        candidates = candidates[first]
        if candidates.size > per_class:
            candidates = candidates[
                np.linspace(0, candidates.size - 1, per_class).round().astype(int)
            ]
        picked.extend(candidates.tolist())
    return np.asarray(picked, dtype=int)


def plot_cam_grid(
    images, labels, result: CamResult, classes, model_name: str, path, shown=None, threshold=0.5
) -> None:
    """One panel per image: the image in grey, the heat map over it, true label and probability.
    ``shown``: the probabilities to print (default the model's own), judged at ``threshold``."""
    import matplotlib

    matplotlib.use("Agg")  # batch jobs have no display
    import matplotlib.pyplot as plt

    n = len(images)
    columns = min(n, 3) or 1
    rows = max(1, -(-n // columns))
    figure, axes = plt.subplots(
        rows, columns, figsize=(3.0 * columns, 3.3 * rows + 0.6), squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    shown = result.probabilities if shown is None else shown
    for ax, image, label, probability, heatmap in zip(
        axes.ravel(), images, labels, shown, result.heatmaps
    ):
        predicted = int(probability >= threshold)
        ax.imshow(np.squeeze(image), cmap="gray", vmin=0, vmax=255)
        overlay = ax.imshow(heatmap, cmap="jet", alpha=0.45, vmin=0, vmax=1)
        mark = "correct" if predicted == int(label) else "wrong"
        ax.set_title(
            f"true: {classes[int(label)]}\np({classes[1]}) = {probability:.2f} ({mark})", fontsize=9
        )
    figure.suptitle(
        f"{model_name}: Score-CAM of the predicted class at {'/'.join(result.layer_path)}",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0, 0.92, 1))
    colorbar_axes = figure.add_axes((0.93, 0.15, 0.015, 0.7))
    figure.colorbar(overlay, cax=colorbar_axes, label="Score-CAM (0-1)")
    figure.savefig(path, dpi=120)
    plt.close(figure)
