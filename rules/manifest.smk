rule build_manifest:
    input:
        raw_images,
        masks=raw_masks,
        code=script_code("build_manifest.py"),
    output:
        manifest="results/manifest.csv",
        rejected="results/qc/rejected.csv",
        duplicates="results/qc/duplicates.csv",
        conflicts="results/qc/conflicts.csv",
        regions="results/qc/regions.csv",
    log:
        "results/logs/build_manifest.log",
    benchmark:
        "results/benchmarks/build_manifest.tsv"
    localrule: True
    conda:
        "../envs/data.yaml"
    containerized:
        DATA_CONTAINER
    params:
        raw=config["data"]["raw"],
        data=config["data"],
        layout=raw_layout,
    script:
        "../scripts/build_manifest.py"
