"""Duplicate groups: exact and near duplicates of one picture share a group, so they share a split.

A group's key is made from its members' pixels (the smallest pixel hash), not from their file
names: renaming a file, or adding a copy whose name sorts first, leaves the key as it was. The
key only seeds the split of a group that has no image in the split record yet (busflow.split_record
keeps existing images where they are whatever the key).
"""

import numpy as np
import pandas as pd

from busflow.hashing import hamming_distances

DUPLICATE_COLUMNS = ["image_id", "duplicate_of", "kind", "phash_distance"]


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
    """(row i, row j, exact|near, pHash distance) of every pair within max_distance bits."""
    hashes = np.array([int(h, 16) for h in images["phash"]], dtype=np.uint64)
    pixels = images["pixel_sha256"].tolist()
    pairs = []
    for i in range(len(hashes)):
        distances = hamming_distances(int(hashes[i]), hashes[i + 1 :])
        for offset in np.flatnonzero(distances <= max_distance):
            j = i + 1 + int(offset)
            pairs.append((i, j, "exact" if pixels[i] == pixels[j] else "near", int(distances[offset])))
    return pairs


def group_keys(images: pd.DataFrame, union: UnionFind) -> pd.Series:
    """Each row's group key: 'g' + the first 16 hex digits of the smallest pixel hash in its group."""
    roots = [union.find(i) for i in range(len(images))]
    smallest = {}
    for root, pixel_hash in zip(roots, images["pixel_sha256"]):
        smallest[root] = min(smallest.get(root, pixel_hash), pixel_hash)
    return pd.Series([f"g{smallest[r][:16]}" for r in roots], index=images.index, name="group")


def group_duplicates(images: pd.DataFrame, max_distance: int) -> tuple[pd.Series, pd.DataFrame]:
    """Union exact (same pixels) and near duplicates (pHash distance <= max_distance) into groups.

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
