"""Stage 1, raw images -> manifest (rules build_manifest, build_external_manifest,
generate_demo_data).

Everything about image files before any split: the formats a labelled set comes in (``formats``:
a folder of class sub-folders or a CSV of path,label, and ``layout`` / ``label_csv`` / ``scan``
behind them), decoding to the one pixel format (``images``, ``preprocess``), exact and near
duplicate groups (``duplicates``), hospitals as sites (``sites``), external validation sets
checked against the training data (``external``), the manifest itself (``manifest``) and the
synthetic demo images (``demo``).
"""
