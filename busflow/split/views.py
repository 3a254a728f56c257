"""Each shard split's own slice of the manifest and of the split table (rule split_views).

The augment jobs read a split's slice instead of the whole manifest and split, so that a change
to one split's images leaves the other splits' slices byte-identical. Rule split_views is a
Snakemake checkpoint: once it has run, Snakemake plans the jobs below it again, and a job whose
input file has the content it last read (Snakemake's checksum of files under 1 MB) does not
re-run. So a new test image, or new pixels in one, re-runs the test shards and the evaluation,
but neither the train and val shards nor the features and models made from them.

A slice holds every column the shard job reads, and the SHA-256 of each image's lesion masks (the
manifest records their paths; under data.roi: mask a mask's pixels matter, not only its box).
"""

import pandas as pd

from busflow.hashing import file_sha256

MASKS_SHA256 = "roi_masks_sha256"


def view_image_ids(split_table: pd.DataFrame, split: str, protocol: str) -> set[str]:
    """The images whose copies a split's shards hold (busflow.augment.shards.plan_shard): every
    image for the k-fold pool and under the paper's protocol (it augments, then splits the
    copies), the split's own images otherwise."""
    if split == "pool" or protocol == "paper":
        return set(split_table["image_id"])
    return set(split_table.loc[split_table["split"] == split, "image_id"])


def masks_sha256(masks: str) -> str:
    """The SHA-256 of each of an image's masks (';'-separated paths, as the manifest lists them);
    a missing file reads 'missing', which the shard job then reports by name."""
    digests = []
    for path in (m for m in str(masks or "").split(";") if m):
        try:
            digests.append(file_sha256(path))
        except OSError:
            digests.append("missing")
    return ";".join(digests)


def split_view(
    manifest: pd.DataFrame, split_table: pd.DataFrame, split: str, protocol: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(manifest rows, split rows) of the images of ``split``'s shards, in the files' order."""
    images = view_image_ids(split_table, split, protocol)
    rows = manifest[manifest["image_id"].isin(images)].copy()
    if "roi_masks" in rows:
        rows[MASKS_SHA256] = [masks_sha256(masks) for masks in rows["roi_masks"]]
    return rows, split_table[split_table["image_id"].isin(images)]
