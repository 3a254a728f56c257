# External validation: each trained model (every fold's, under k-fold) tested on each set listed
# under external: in the config, without retraining. Images that duplicate training images are
# flagged by the manifest and left out of the metrics.


rule build_external_manifest:
    input:
        images=lambda wildcards: external_images(wildcards.name),
        masks=lambda wildcards: external_masks(wildcards.name),
        training_manifest="results/manifest.csv",
        code=script_code("build_external_manifest.py"),
    output:
        manifest="results/external/{name}/manifest.csv",
        rejected="results/external/{name}/rejected.csv",
    log:
        "results/logs/build_external_manifest/{name}.log",
    wildcard_constraints:
        name="|".join(EXTERNAL) or "no-external-set",
    localrule: True
    conda:
        "../envs/data.yaml"
    containerized:
        DATA_CONTAINER
    params:
        source=lambda wildcards: EXTERNAL[wildcards.name]["path"],
        masks=lambda wildcards: EXTERNAL[wildcards.name].get("masks"),
        data=config["data"],
        layout=external_layout,
    script:
        "../scripts/build_external_manifest.py"


rule evaluate_external:
    input:
        models=lambda wildcards: expand(
            in_run("models/{model}.keras"), fold=range(FOLDS), model=wildcards.model
        ),
        operating_points=lambda wildcards: expand(
            in_run("operating_point/{model}.json"),
            fold=range(FOLDS),
            model=wildcards.model,
        ),
        manifest="results/external/{name}/manifest.csv",
        code=script_code("evaluate_external.py"),
    output:
        metrics="results/external/{name}/eval/{model}/metrics.json",
        predictions="results/external/{name}/eval/{model}/predictions.csv",
    log:
        "results/logs/evaluate_external/{name}/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_external/{name}/{model}.tsv"
    wildcard_constraints:
        name="|".join(EXTERNAL) or "no-external-set",
        model="|".join(MODELS),
    conda:
        KERAS_ENV
    containerized:
        KERAS_CONTAINER
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        run=lambda wildcards: {
            "model": wildcards.model,
            "external": wildcards.name,
            "protocol": PROTOCOL,
            "weights": model_weights(wildcards),
            "image_size": config["data"]["image_size"],
            "preprocess": config["data"]["preprocess"],
            "roi": ROI,
            "classes": config["data"]["classes"],
        },
        evaluation=config["evaluation"],
        tta=TTA,
        backend=config["training"]["backend"],
        acceleration=ACCELERATION,
    script:
        "../scripts/evaluate_external.py"


# Where the cross-hospital drop shows: each external set's ROC (over the run's own test ROC) and
# calibration, in results/figures/external/<name>/ and the report.
rule plot_external_figures:
    input:
        external_predictions=expand(
            "results/external/{{name}}/eval/{model}/predictions.csv", model=MODELS
        ),
        external_metrics=expand(
            "results/external/{{name}}/eval/{model}/metrics.json", model=MODELS
        ),
        internal_predictions=[predictions_file(model) for model in MODELS],
        internal_metrics=[metrics_file(model) for model in MODELS],
        code=script_code("plot_external_figures.py"),
    output:
        roc=report(
            "results/figures/external/{name}/roc.png",
            caption="../report/external_roc.rst",
            category="External sets",
            subcategory="{name}",
            labels={"set": "{name}", "figure": "ROC"},
        ),
        calibration=report(
            "results/figures/external/{name}/calibration.png",
            caption="../report/external_calibration.rst",
            category="External sets",
            subcategory="{name}",
            labels={"set": "{name}", "figure": "calibration and precision-recall"},
        ),
    log:
        "results/logs/plot_external_figures/{name}.log",
    wildcard_constraints:
        name="|".join(EXTERNAL) or "no-external-set",
    localrule: True
    conda:
        "../envs/data.yaml"
    containerized:
        DATA_CONTAINER
    params:
        models=MODELS,
        folds=FOLDS,
        calibration_bins=config["evaluation"]["calibration_bins"],
    script:
        "../scripts/plot_external_figures.py"
