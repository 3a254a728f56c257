"""Stage 2, manifest -> split (rule split_images).

Which image trains, validates or tests: stable grouped assignment to train/val/test
(``assign``; duplicate groups never straddle splits, and an image keeps its split when others are
added), grouped stratified k-fold folds (``folds``), and the split record that later runs honour
(``record``). The paper protocol (split after augmentation, leaky) is chosen here too.
"""
