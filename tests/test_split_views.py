"""Each shard split's slice of the manifest and the split (rule split_views): a change to a test
image leaves the train and val slices as they were, so no training re-runs for it."""

import pandas as pd
import pytest

from busflow.split.views import MASKS_SHA256, split_view

MANIFEST = pd.DataFrame(
    {
        "image_id": ["benign/a", "benign/b", "malignant/c", "malignant/d"],
        "path": ["raw/a.png", "raw/b.png", "raw/c.png", "raw/d.png"],
        "sha256": ["1", "2", "3", "4"],
        "roi_masks": ["", "", "", ""],
    }
)
SPLIT = pd.DataFrame(
    {
        "image_id": ["benign/a", "benign/b", "malignant/c", "malignant/d"],
        "label": ["benign", "benign", "malignant", "malignant"],
        "fold": [0, 0, 0, 0],
        "split": ["train", "test", "train", "val"],
    }
)


def slices(manifest, split="train", protocol="leak_free"):
    rows, assigned = split_view(manifest, SPLIT, split, protocol)
    return rows.to_csv(index=False), assigned.to_csv(index=False)


def test_a_split_slice_holds_its_own_images_only():
    rows, assigned = split_view(MANIFEST, SPLIT, "train", "leak_free")
    assert list(rows["image_id"]) == ["benign/a", "malignant/c"]
    assert list(assigned["image_id"]) == ["benign/a", "malignant/c"]


@pytest.mark.parametrize("split,protocol", [("pool", "leak_free"), ("train", "paper")])
def test_the_pool_and_the_papers_splits_hold_every_image(split, protocol):
    """The k-fold pool and the paper's shards are made from copies of every image."""
    rows, _ = split_view(MANIFEST, SPLIT, split, protocol)
    assert len(rows) == len(MANIFEST)


def test_new_pixels_in_a_test_image_change_the_test_slice_only():
    changed = MANIFEST.copy()
    changed.loc[changed["image_id"] == "benign/b", "sha256"] = "new"
    for split in ("train", "val"):
        assert slices(changed, split) == slices(MANIFEST, split)
    assert slices(changed, "test") != slices(MANIFEST, "test")


def test_a_masks_new_pixels_change_its_images_slice(tmp_path):
    """Under data.roi: mask the mask's pixels matter, though the manifest records only its path
    (and a box that the edit may leave as it was)."""
    mask = tmp_path / "a_mask.png"
    mask.write_bytes(b"first")
    manifest = MANIFEST.copy()
    manifest.loc[0, "roi_masks"] = str(mask)
    before = slices(manifest)
    mask.write_bytes(b"second")
    after = slices(manifest)
    assert before != after
    assert split_view(manifest, SPLIT, "train", "leak_free")[0][MASKS_SHA256].iloc[1] == ""
