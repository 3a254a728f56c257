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
