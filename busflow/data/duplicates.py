"""Duplicate groups: exact and near duplicates of one picture share a group, so they share a split.

Near duplicates are found by perceptual hashes (64-bit DCT pHash) of several windows of each
image: the whole image at full resolution (the hash busflow always used), and windows of a
128 x 128 thumbnail: centred crops of 100%, 94% and 88% of the side and 90% windows on a grid of
offsets (0 to 10% of the side in 2.5% steps). Two images are near duplicates when any window
of one is within ``near_duplicate_distance`` bits of any window of the other. A re-scan shifted
by a few per cent, or framed a few per cent tighter, has a window that shows what a window of the
original shows; one whole-image hash misses most of them (bench/duplicate_finder.py measures it).

A group's key is made from its members' pixels (the smallest pixel hash), not from their file
names: renaming a file, or adding a copy whose name sorts first, leaves the key as it was. The
key only seeds the split of a group that has no image in the split record yet (busflow.split.record
keeps existing images where they are whatever the key).
"""

import numpy as np
import pandas as pd
from PIL import Image

from busflow.hashing import perceptual_hash, pixel_sha256

DUPLICATE_COLUMNS = ["image_id", "duplicate_of", "kind", "phash_distance"]
THUMBNAIL = 128
GRID = (0.0, 0.025, 0.05, 0.075, 0.1)
# (left, top, side) as fractions of the thumbnail: centred crops, then 90% windows on the grid.
WINDOWS = [((1 - side) / 2, (1 - side) / 2, side) for side in (1.0, 0.94, 0.88)] + [
    (left, top, 0.9) for left in GRID for top in GRID
]


def window_hashes(grey: np.ndarray) -> list[int]:
    """The image's pHash, then the pHash of every window of its thumbnail (see the module doc)."""
    thumbnail = np.asarray(
        Image.fromarray(grey).resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BOX)
    )
    hashes = [perceptual_hash(grey)]
    for left, top, side in WINDOWS:
        x, y, n = round(left * THUMBNAIL), round(top * THUMBNAIL), round(side * THUMBNAIL)
        hashes.append(perceptual_hash(thumbnail[y : y + n, x : x + n]))
    return hashes


def image_fingerprint(grey: np.ndarray) -> dict:
    """What the finder compares, per image (manifest columns): the exact pixel hash, the whole
    image's pHash (column phash) and all window hashes (column window_hashes, hex,
    space-separated)."""
    hashes = window_hashes(grey)
    return {
        "pixel_sha256": pixel_sha256(grey),
        "phash": f"{hashes[0]:016x}",
        "window_hashes": " ".join(f"{h:016x}" for h in hashes),
    }


def hash_matrix(window_column) -> np.ndarray:
    """(images, windows) uint64 array from a window_hashes column."""
    return np.array(
        [[int(h, 16) for h in row.split()] for row in window_column], dtype=np.uint64
    ).reshape(len(window_column), -1)


def window_distances(one: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Smallest bit distance between any window of ``one`` (windows,) and any window of each of
    ``others`` (images, windows)."""
    if not len(others):
        return np.zeros(0, dtype=np.uint8)
    return np.bitwise_count(one[None, :, None] ^ others[:, None, :]).min(axis=(1, 2))


class UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        self.parent[self.find(j)] = self.find(i)


def linked_pairs(images: pd.DataFrame, max_distance: int) -> list[tuple[int, int, str, int]]:
    """(row i, row j, exact|near, window distance) of every pair within max_distance bits."""
    hashes = hash_matrix(images["window_hashes"])
    pixels = images["pixel_sha256"].tolist()
    pairs = []
    for i in range(len(hashes)):
        distances = window_distances(hashes[i], hashes[i + 1 :])
        for offset in np.flatnonzero(distances <= max_distance):
            j = i + 1 + int(offset)
            pairs.append(
                (i, j, "exact" if pixels[i] == pixels[j] else "near", int(distances[offset]))
            )
    return pairs


def group_keys(images: pd.DataFrame, union: UnionFind) -> pd.Series:
    """Each row's group key: 'g' + the first 16 hex digits of the
    smallest pixel hash in its group."""
    roots = [union.find(i) for i in range(len(images))]
    smallest = {}
    for root, pixel_hash in zip(roots, images["pixel_sha256"]):
        smallest[root] = min(smallest.get(root, pixel_hash), pixel_hash)
    return pd.Series([f"g{smallest[r][:16]}" for r in roots], index=images.index, name="group")


def group_duplicates(images: pd.DataFrame, max_distance: int) -> tuple[pd.Series, pd.DataFrame]:
    """Union exact (same pixels) and near duplicates (window distance <= max_distance) into groups.

    Equal pixels give equal hashes, so exact duplicates are found by the same distance test.
    Returns the group key per row (see group_keys: it does not depend on names or row order) and
    the pairs that were linked, for qc/duplicates.csv.
    """
    union = UnionFind(len(images))
    ids = images["image_id"].tolist()
    pairs = []
    for i, j, kind, distance in linked_pairs(images, max_distance):
        union.union(i, j)
        pairs.append((ids[i], ids[j], kind, distance))
    return group_keys(images, union), pd.DataFrame(pairs, columns=DUPLICATE_COLUMNS)
