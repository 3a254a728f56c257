rule evaluate_model:
    input:
        model=in_run("models/{model}.keras"),
        training_device=in_run("models/{model}.device.json"),
        test=shard_files("test"),
        split=split_input,
        code=EVALUATION_CODE,
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
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        evaluation=config["evaluation"],
        weights=lambda wildcards: (
            "none (trained from scratch)"
            if wildcards.model == "baseline"
            else weights_label()
        ),
        selection=fold_selection,
        tta=TTA,
        backend=config["training"]["backend"],
        acceleration=ACCELERATION,
    script:
        "../scripts/evaluate_model.py"


localrules:
    summarise_folds,


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
        code=package_file("crossval.py"),
    output:
        metrics="results/cv/{model}/metrics.json",
        predictions="results/cv/{model}/predictions.csv",
    log:
        "results/logs/summarise_folds/{model}.log",
    wildcard_constraints:
        model="|".join(MODELS),
    conda:
        "../envs/data.yaml"
    params:
        evaluation=config["evaluation"],
    script:
        "../scripts/summarise_folds.py"
