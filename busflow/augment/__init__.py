"""Stage 3, split -> augmented shards (rule augment_shard).

The paper's 24x augmentation (``affine``: rotations, shifts, rescale, shear, zoom, flip, fill;
numpy + Pillow, seeded per image), the optional scanner-look augmentation (``scanner``), the
uint8 .npz shards they are written to (``shards``) and the samples a split or fold reads back
from them (``samples``).
"""
