rule split_images:
    input:
        manifest="results/manifest.csv",
        code=package_file("split.py"),
    output:
        "results/split.csv",
    params:
        split=config["split"],
    log:
        "results/logs/split_images.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/split_images.py"
