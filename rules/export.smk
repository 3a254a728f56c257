# Each trained model (each fold's, under k-fold) leaves the run as a folder that stock Keras 3
# loads without busflow (busflow/predict/export.py), and the run gets a model card: what the models are
# for, what they were trained and tested on, and where they fail.


# One job per run (per fold under k-fold) exports every model: each export is seconds, the
# process start and Keras import about as long again.
rule export_models:
    input:
        models=[in_run(f"models/{model}.keras") for model in MODELS],
        operating_points=[in_run(f"operating_point/{model}.json") for model in MODELS],
        manifest="results/manifest.csv",
        split="results/split.csv",
        code=script_code("export_models.py"),
    output:
        [directory(export_dir(model)) for model in MODELS],
    log:
        job_file("logs/export_models", "log"),
    benchmark:
        job_file("benchmarks/export_models", "tsv")
    conda:
        KERAS_ENV
    containerized:
        KERAS_CONTAINER
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        models=MODELS,
        run=export_run,
        backend=config["training"]["backend"],
    script:
        "../scripts/export_models.py"


# results/export must hold exactly this run's models: after `models` or `evaluation.folds` change,
# the exports of the earlier run would otherwise stay beside them and python -m busflow.predict
# results/export would use them. This removes them and lists the run's exports in index.json,
# which predict reads (busflow/predict/export_index.py).
rule index_exports:
    input:
        exports=export_dirs(),
        code=script_code("index_exports.py"),
    output:
        "results/export/index.json",
    log:
        "results/logs/index_exports.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    containerized:
        DATA_CONTAINER
    script:
        "../scripts/index_exports.py"


rule write_model_card:
    input:
        comparison="results/comparison.csv",
        exports=export_dirs(),
        code=script_code("write_model_card.py"),
    output:
        md="results/model_card.md",
        html=report(
            "results/model_card.html",
            caption="../report/model_card.rst",
            category="Model card",
        ),
    log:
        "results/logs/write_model_card.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    containerized:
        DATA_CONTAINER
    script:
        "../scripts/write_model_card.py"
