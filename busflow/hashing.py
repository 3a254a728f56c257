"""Stable hashes: the same input gives the same number on every machine and in every run.

Split and shard assignment use these instead of row order or Python's salted ``hash()``, so that
adding an image never moves another one.
"""

import hashlib

import numpy as np
from PIL import Image
from scipy.fft import dct


def stable_digest(*parts) -> bytes:
    """SHA-256 of the parts joined by a separator that cannot occur in their str() forms' order."""
    joined = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(joined.encode("utf-8")).digest()


def stable_unit(*parts) -> float:
    """A number uniform in [0, 1), fixed by the parts."""
    return int.from_bytes(stable_digest(*parts)[:8], "big") / 2.0**64


def stable_int(*parts, bits: int = 32) -> int:
    """A non-negative integer below 2**bits, fixed by the parts (usable as a NumPy seed)."""
    return int.from_bytes(stable_digest(*parts)[:8], "big") >> (64 - bits)


def file_sha256(path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pixel_sha256(grey: np.ndarray) -> str:
    """Hash of the pixel values and shape: equal for the same
    picture saved as grey or grey-in-RGB."""
    digest = hashlib.sha256(str(grey.shape).encode())
    digest.update(np.ascontiguousarray(grey, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def perceptual_hash(grey: np.ndarray, hash_size: int = 8, highfreq_factor: int = 4) -> int:
    """64-bit DCT perceptual hash (pHash): robust to resizing, re-encoding and small edits."""
    side = hash_size * highfreq_factor
    small = Image.fromarray(grey).resize((side, side), Image.Resampling.LANCZOS)
    pixels = np.asarray(small, dtype=np.float64)
    low = dct(dct(pixels, axis=0, norm="ortho"), axis=1, norm="ortho")[:hash_size, :hash_size]
    bits = (low > np.median(low)).ravel()
    return int("".join("1" if bit else "0" for bit in bits), 2)
