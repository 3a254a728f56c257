"""Reading image files into the one pixel format the workflow uses: 8-bit grey, square."""

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from busflow.errors import BadImageError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif"}
# data.max_image_pixels' default (the schema holds the same number): 50 megapixels is 70x BUSI's
# largest image (1048 x 719) and far above any ultrasound frame, yet decodes in ~150 MB as RGB.
DEFAULT_MAX_PIXELS = 50_000_000
# busflow checks the pixel count itself, naming the file and the setting; Pillow's own check
# raises a DecompressionBombError that names neither, at a limit no config could change.
Image.MAX_IMAGE_PIXELS = None
# Pillow's modes of more than 8 bits per pixel (16-bit PNG or TIFF, 32-bit integer or float TIFF)
# and the words for them: _to_grey stretches each such image's own range to 0-255.
HIGH_BIT_DEPTH_MODES = {"I;16": "16-bit", "I;16B": "16-bit", "I": "32-bit", "F": "32-bit float"}
# What that does, in model.json's input record (busflow.jobs.export_models) and predict's warning.
HIGH_BIT_DEPTH = (
    "min-max stretched to 8 bits per image (its darkest pixel 0, its brightest 255: "
    "absolute brightness is not kept)"
)


def check_supported_format(path) -> None:
    """Raise BadImageError naming the file if its extension is not one busflow reads."""
    suffix = os.path.splitext(str(path))[1]
    if suffix.lower() not in IMAGE_EXTENSIONS:
        supported = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise BadImageError(
            path,
            f"unsupported format '{suffix or '(no extension)'}'; busflow reads {supported}. "
            f"Convert it to PNG",
        )


def decode_image(path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, str]:
    """Decode a file fully into grey uint8 pixels; returns (pixels, original Pillow mode).

    Raises BadImageError naming the file for: zero bytes, unreadable, not an image, animated or
    multi-frame, truncated or corrupt data, more than ``max_pixels`` pixels (checked from the
    header, before decoding: a decompression bomb never reaches memory; None: no limit). Colour
    images become grey with ITU-R 601 luma, which leaves grey-in-RGB exactly as it was.
    """
    try:
        if not os.path.exists(path):
            raise BadImageError(path, "the file cannot be read (a broken link, or it was removed)")
        if os.path.getsize(path) == 0:
            raise BadImageError(path, "the file is empty (0 bytes)")
        with Image.open(path) as image:
            check_pixel_count(path, image.size, max_pixels)
            check_single_frame(path, image)
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


def check_single_frame(path, image: Image.Image) -> None:
    """An animated file (GIF, APNG, multi-page TIFF) is refused: which frame is the ultrasound
    image is the user's call, and reading the first silently could train on the wrong one."""
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        raise BadImageError(
            path,
            f"an animated or multi-frame image ({frames} frames); busflow reads one picture per "
            "file. Save the frame you mean as a PNG",
        )


def check_pixel_count(path, size: tuple[int, int], max_pixels: int | None) -> None:
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise BadImageError(
            path,
            f"{width} x {height} pixels is more than data.max_image_pixels ({max_pixels:,}); "
            f"a file this large is usually damaged or a decompression bomb. If it is a real "
            f"scan, raise data.max_image_pixels",
        )


def _to_grey(image: Image.Image) -> np.ndarray:
    if image.mode in HIGH_BIT_DEPTH_MODES:
        # High-bit-depth scans: stretch to 8 bits rather than clip everything to white.
        pixels = np.asarray(image, dtype=np.float64)
        span = max(pixels.max() - pixels.min(), 1.0)
        return ((pixels - pixels.min()) * (255.0 / span)).round().astype(np.uint8)
    if image.mode in ("RGBA", "LA", "P", "PA") or "transparency" in image.info:
        # Transparent regions (cropped out for anonymisation, as in BrEaST) are no signal: black, as
        # an ultrasound frame's background. Dropping alpha instead would show whatever the file kept
        # under it (some hold text there).
        black = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(black, image.convert("RGBA")).convert("RGB")
    return np.asarray(image.convert("L"), dtype=np.uint8)


def resize_square(grey: np.ndarray, size: int) -> np.ndarray:
    """Resize to size x size without keeping the aspect ratio, as the paper's Keras loader did."""
    if grey.shape == (size, size):
        return grey
    resized = Image.fromarray(grey).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)
