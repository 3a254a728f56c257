"""split.protocol: the one module that knows what each protocol means; the split, augmentation,
rules, evaluation, export and report ask it rather than compare the name themselves.

``leak_free`` (default): duplicate groups are split before augmentation; only training images
are augmented, and validation and test images are never trained on in any copy.
``paper``: the paper's protocol: every image is augmented first and the copies are split one by
one, so copies of one image sit in train and test (leaky). It has no validation split of its own:
like the paper, it validates on the test copies.
"""

LEAK_FREE = "leak_free"
PAPER = "paper"
PROTOCOLS = (LEAK_FREE, PAPER)

# model.json's protocol.description
DESCRIPTIONS = {
    LEAK_FREE: "split before augmentation, duplicate groups kept together: no copy or near "
    "duplicate of a validation or test image was trained on",
    PAPER: "the paper's split after augmentation: copies of one image sit in train and test, "
    "so its test figures are inflated (leaky)",
}
# The comparison table's note on a row
NOTES = {
    LEAK_FREE: "leak-free: duplicate groups split before augmentation; test images never augmented",
    PAPER: "leaky: augmented copies of one image are in both train and test (the paper's protocol)",
}


def is_leaky(protocol: str) -> bool:
    """Copies of one image can sit in train and test (every record's ``leaky``)."""
    return protocol == PAPER


def splits_copies(protocol: str) -> bool:
    """Augments every image first and splits the copies (by image id and copy), so every split
    holds augmented copies and a CI resamples source images with their copies."""
    return protocol == PAPER


def validates_on_test(protocol: str) -> bool:
    """Has no validation split: validation reads the test copies, so nothing may be chosen on
    validation (an epoch, a threshold, a recalibration)."""
    return protocol == PAPER


def note(leaky: bool) -> str:
    """The comparison table's note for a leaky or leak-free row."""
    return NOTES[PAPER if leaky else LEAK_FREE]
