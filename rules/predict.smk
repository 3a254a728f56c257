# New, unlabelled images (config predict: [{name, path}]) through every exported model:
# results/predictions/<name>.csv, the same numbers as python -m busflow.predict results/export.
rule predict_images:
    input:
        exports=export_dirs(),
        images=predict_set_files,
        code=script_code("predict_images.py"),
    output:
        "results/predictions/{name}.csv",
    log:
        "results/logs/predict_images/{name}.log",
    benchmark:
        "results/benchmarks/predict_images/{name}.tsv"
    wildcard_constraints:
        name="|".join(PREDICT) or "no-predict-set",
    conda:
        KERAS_ENV
    containerized:
        KERAS_CONTAINER
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        source=lambda wildcards: PREDICT[wildcards.name]["path"],
        masks=lambda wildcards: PREDICT[wildcards.name].get("masks"),
        whole_image=lambda wildcards: PREDICT[wildcards.name].get("whole_image", False),
        batch_size=config["evaluation"]["batch_size"],
        backend=config["training"]["backend"],
    script:
        "../scripts/predict_images.py"
