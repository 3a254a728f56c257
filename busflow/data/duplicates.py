"""Duplicate groups: exact and near duplicates of one picture share a group, so they share a split.

Near duplicates are found by perceptual hashes (64-bit DCT pHash) of several windows of each
image: the whole image at full resolution (the hash busflow always used), and windows of a
128 x 128 thumbnail: centred crops of 100%, 94% and 88% of the side and 90% windows on a grid of
offsets (0 to 10% of the side in 2.5% steps). Two images are near duplicates when any window
of one is within ``near_duplicate_distance`` bits of any window of the other. A re-scan shifted
by a few per cent, or framed a few per cent tighter, has a window that shows what a window of the
original shows; one whole-image hash misses most of them (bench/duplicate_finder.py measures it).

A left-right mirror of a picture is a near duplicate too: flipping is one of the training
augmentations, so a mirrored copy in the test split is a picture the model was, in effect,
trained on. Each image also carries the window hashes of its mirrored thumbnail (mirror_hashes);
one image's hashes in both orientations are compared with the other's window hashes, so either
image may be the mirrored one and the images compared against (a training manifest, an export's
training_hashes.csv) need no mirror hashes of their own.

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


def thumbnail(grey: np.ndarray) -> np.ndarray:
    """The THUMBNAIL x THUMBNAIL (box-filtered) copy whose windows are hashed."""
    return np.asarray(Image.fromarray(grey).resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BOX))


def thumbnail_window_hashes(small: np.ndarray) -> list[int]:
    """The pHash of every window of a thumbnail, in WINDOWS' order."""
    hashes = []
    for left, top, side in WINDOWS:
        x, y, n = round(left * THUMBNAIL), round(top * THUMBNAIL), round(side * THUMBNAIL)
        hashes.append(perceptual_hash(small[y : y + n, x : x + n]))
    return hashes


def image_fingerprint(grey: np.ndarray) -> dict:
    """What the finder compares, per image: the exact pixel hash, the whole image's pHash
    (manifest column phash), all window hashes (column window_hashes, hex, space-separated) and
    the window hashes of the left-right mirrored thumbnail (mirror_hashes, the same format; only
    the image's own comparisons use them, so the manifest does not keep them)."""
    small = thumbnail(grey)
    # The whole image's pHash at full size (the hash busflow always used), then the windows'.
    hashes = [perceptual_hash(grey), *thumbnail_window_hashes(small)]
    return {
        "pixel_sha256": pixel_sha256(grey),
        "phash": f"{hashes[0]:016x}",
        "window_hashes": hex_hashes(hashes),
        # The windows are symmetric to a pixel (the grid's offsets from the left and from the
        # right are alike), so the mirrored thumbnail's windows show the mirror of what the
        # original's show. The thumbnail's 100% window stands in for the full-size pHash: it
        # found every mirrored copy in bench/duplicate_finder.py without a second full-size
        # resize.
        "mirror_hashes": hex_hashes(thumbnail_window_hashes(np.fliplr(small))),
    }


def hex_hashes(hashes: list[int]) -> str:
    return " ".join(f"{h:016x}" for h in hashes)


def hash_matrix(window_column) -> np.ndarray:
    """(images, windows) uint64 array from a window_hashes column."""
    return np.array(
        [[int(h, 16) for h in row.split()] for row in window_column], dtype=np.uint64
    ).reshape(len(window_column), -1)


def both_orientations(images: pd.DataFrame) -> np.ndarray:
    """(images, windows + mirror windows) uint64 array: each image's window hashes, then its
    mirror_hashes. Compared with another image's window hashes (window_distances), a match in
    either part is a match of the picture or of its left-right mirror. Raises KeyError naming
    mirror_hashes for a table made without image_fingerprint's mirror hashes."""
    if "mirror_hashes" not in images:
        raise KeyError(
            "mirror_hashes: the table's rows were not made by "
            "busflow.data.duplicates.image_fingerprint"
        )
    return np.concatenate(
        [hash_matrix(images["window_hashes"]), hash_matrix(images["mirror_hashes"])], axis=1
    )


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
    """(row i, row j, exact|near, window distance) of every pair within max_distance bits, a
    left-right mirror of either image included (a mirrored copy is a near duplicate)."""
    hashes = hash_matrix(images["window_hashes"])
    oriented = both_orientations(images)
    pixels = images["pixel_sha256"].tolist()
    pairs = []
    for i in range(len(hashes)):
        distances = window_distances(oriented[i], hashes[i + 1 :])
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
