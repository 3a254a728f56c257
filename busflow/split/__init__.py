"""Stage 2, manifest -> split (rules split_images, split_views).

Which image trains, validates or tests: stable grouped assignment to train/val/test
(``assign``; duplicate groups never straddle splits, and an image keeps its split when others are
added), grouped stratified k-fold folds (``folds``), and the split record that later runs honour
(``record``), and each shard split's slice of the manifest, so that a test image's change re-runs
no training (``views``). The paper protocol (split after augmentation, leaky) is chosen here too.
"""
