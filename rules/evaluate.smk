# The decision threshold (and an optional recalibration) of each trained model, chosen on its
# validation images before any test or external image is scored; evaluation applies it unchanged.
rule choose_operating_point:
    input:
        model=in_run("models/{model}.keras"),
        val=shard_files("val"),
        split=split_input,
        views=views_of("val"),
        code=script_code("choose_operating_point.py"),
    output:
        in_run("operating_point/{model}.json"),
    log:
        job_file("logs/choose_operating_point/{model}", "log"),
    benchmark:
        job_file("benchmarks/choose_operating_point/{model}", "tsv")
    wildcard_constraints:
        model="|".join(MODELS),
    conda:
        KERAS_ENV
    containerized:
        KERAS_CONTAINER
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: rule_mem_mb("evaluate", config, attempt),
        runtime=30,
    params:
        # only what the choice depends on: changing the bootstrap or the folds re-runs nothing here
        evaluation={
            key: config["evaluation"][key]
            for key in (
                "operating_point",
                "recalibration",
                "calibration_bins",
                "batch_size",
            )
        },
        selection=fold_selection,
        tta=TTA,
        backend=config["training"]["backend"],
        acceleration=ACCELERATION,
    script:
        "../scripts/choose_operating_point.py"


rule evaluate_model:
    input:
        model=in_run("models/{model}.keras"),
        operating_point=in_run("operating_point/{model}.json"),
        training_device=in_run("models/{model}.device.json"),
        test=shard_files("test"),
        split="results/split.csv",
        code=script_code("evaluate_model.py"),
    output:
        metrics=in_run("eval/{model}/metrics.json"),
        predictions=in_run("eval/{model}/predictions.csv"),
    log:
        job_file("logs/evaluate_model/{model}", "log"),
    benchmark:
        job_file("benchmarks/evaluate_model/{model}", "tsv")
    wildcard_constraints:
        model="|".join(MODELS),
    conda:
        KERAS_ENV
    containerized:
        KERAS_CONTAINER
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: rule_mem_mb("evaluate", config, attempt),
        runtime=30,
    params:
        evaluation=config["evaluation"],
        weights=model_weights,
        selection=fold_selection,
        tta=TTA,
        backend=config["training"]["backend"],
        acceleration=ACCELERATION,
    script:
        "../scripts/evaluate_model.py"


# k-fold only: each metric's mean over the folds with a t-interval, and the pooled out-of-fold
# predictions (every image predicted once, by the model that did not see it).
rule summarise_folds:
    input:
        metrics=expand(
            "results/folds/{fold}/eval/{{model}}/metrics.json", fold=range(FOLDS)
        ),
        predictions=expand(
            "results/folds/{fold}/eval/{{model}}/predictions.csv", fold=range(FOLDS)
        ),
        code=script_code("summarise_folds.py"),
    output:
        metrics="results/cv/{model}/metrics.json",
        predictions="results/cv/{model}/predictions.csv",
    log:
        "results/logs/summarise_folds/{model}.log",
    wildcard_constraints:
        model="|".join(MODELS),
    localrule: True
    conda:
        "../envs/data.yaml"
    containerized:
        DATA_CONTAINER
    params:
        evaluation=config["evaluation"],
    script:
        "../scripts/summarise_folds.py"
