"""busflow: breast-ultrasound benign/malignant classification, as importable, tested building
blocks; the Snakemake workflow's scripts (scripts/) are thin wrappers around them.

One package per stage of the DAG, in its order, each with a docstring saying what it owns:

    data/      raw images -> manifest (formats, decoding, duplicates, sites, external sets)
    split/     manifest -> train/val/test or k folds, stable and grouped
    augment/   split -> augmented shards (the paper's 24x augmentation)
    models/    shards -> trained models (the model registry, builders, VGG16 weights, training)
    evaluate/  trained models -> metrics with CIs, operating point, calibration, Score-CAM
    report/    results -> comparison table, figures, model card, rule times
    predict/   trained models -> exports, and predictions on new images (python -m busflow.predict)

and beside them: ``jobs/`` (one entry point per rule: what scripts/<rule>.py calls), ``config/``
(the schema, typed settings and cross-checks), ``runtime/`` (Keras backend, devices, the SLURM
preflight ``python -m busflow.runtime.doctor``), and three shared modules: ``errors`` (messages
that name the file and the fix), ``outputs`` (writing tables and records) and ``hashing``
(stable hashes), plus ``code_closure`` (each rule's code inputs, read from the imports).
"""

__version__ = "0.1.0"
