"""Reading image files into the one pixel format the workflow uses: 8-bit grey, square."""

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from busflow.errors import BadImageError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif"}


def decode_image(path) -> tuple[np.ndarray, str]:
    """Decode a file fully into grey uint8 pixels; returns (pixels, original Pillow mode).

    Raises BadImageError naming the file for: zero bytes, unreadable, not an image, truncated or
    corrupt data. Colour images become grey with ITU-R 601 luma, which leaves grey-in-RGB exactly
    as it was.
    """
    try:
        if not os.path.exists(path):
            raise BadImageError(path, "the file cannot be read (a broken link, or it was removed)")
        if os.path.getsize(path) == 0:
            raise BadImageError(path, "the file is empty (0 bytes)")
        with Image.open(path) as image:
            mode = image.mode
            image.load()
            return _to_grey(image), mode
    except BadImageError:
        raise
    except PermissionError:
        raise BadImageError(path, "the file cannot be read (permission denied)") from None
    except UnidentifiedImageError:
        raise BadImageError(path, "not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadImageError(path, f"corrupt or truncated image data ({error})") from None


def _to_grey(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I", "F"):
        # High-bit-depth scans: stretch to 8 bits rather than clip everything to white.
        pixels = np.asarray(image, dtype=np.float64)
        span = max(pixels.max() - pixels.min(), 1.0)
        return ((pixels - pixels.min()) * (255.0 / span)).round().astype(np.uint8)
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA").convert("RGB")
    return np.asarray(image.convert("L"), dtype=np.uint8)


def resize_square(grey: np.ndarray, size: int) -> np.ndarray:
    """Resize to size x size without keeping the aspect ratio, as the paper's Keras loader did."""
    if grey.shape == (size, size):
        return grey
    resized = Image.fromarray(grey).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def load_training_image(path, size: int) -> np.ndarray:
    """The pixels a model sees for one file: grey, size x size, uint8."""
    grey, _ = decode_image(path)
    return resize_square(grey, size)
