localrules:
    split_images,


rule split_images:
    input:
        manifest="results/manifest.csv",
        code=script_code("split_images.py"),
    output:
        "results/split.csv",
    log:
        "results/logs/split_images.log",
    conda:
        "../envs/data.yaml"
    params:
        split=config["split"],
        folds=FOLDS,
    script:
        "../scripts/split_images.py"
