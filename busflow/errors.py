"""Errors a user can act on. Each message names the file or setting and says what to do."""


class BusflowError(Exception):
    """Base class: an error caused by input or configuration, not by a bug."""


class BadImageError(BusflowError):
    """An image file cannot be decoded (corrupt, truncated, empty, not an image, unreadable)."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(
            f"{path}: {reason}. Replace or remove this file, or set data.on_bad_image: skip in the "
            "config to list it in results/qc/rejected.csv and go on."
        )


class DatasetLayoutError(BusflowError):
    """The raw folder does not have the expected class sub-folders."""


class WeightsNotFoundError(BusflowError):
    """The VGG16 ImageNet weights file is not where the config says."""


class ConfigError(BusflowError):
    """A configuration value is inconsistent with the data or with another value."""


class CollapsedModelError(BusflowError):
    """A trained model's validation predictions are (nearly) one constant, or not numbers."""


class ExportError(BusflowError):
    """An exported model folder cannot be used (missing file, another format, mixed parts)."""
