"""The VGG16 features busflow caches once per sample (rule extract_vgg16_features): each key, the
VGG16 layer it is the output of, and which one feeds a fine-tuned block. The registry checks the
keys a model reads against these; the models tap these layers. A module of its own, so that the
Keras rules do not depend on the registry's list of models."""

FEATURE_LAYERS = {"block3": "block3_pool", "block4": "block4_pool", "bottleneck": "block5_pool"}
FEATURES = tuple(FEATURE_LAYERS)


def feature_below(blocks) -> str:
    """The cached feature that feeds the first trained VGG16 block: block k reads block k-1's
    pool."""
    return f"block{min(blocks) - 1}"
