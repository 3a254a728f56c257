# The split record (split.record, outside results/) is this rule's memory, not a product: the job
# reads it and adds the new images to it. It is a param, not an input or output: Snakemake deletes
# a job's outputs before running it, and a rule cannot read its own output; as an input, the
# record that every run rewrites would re-run the split each time. The rule re-runs when the
# manifest changes, which is when the record matters. To start over: delete the record and run
# with --forcerun split_images.
rule split_images:
    input:
        manifest="results/manifest.csv",
        code=script_code("split_images.py"),
    output:
        split="results/split.csv",
        conflicts="results/qc/split_conflicts.csv",
        units="results/qc/split_units.csv",
    log:
        "results/logs/split_images.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    containerized:
        DATA_CONTAINER
    params:
        split=config["split"],
        folds=FOLDS,
        held_out_sites=held_out_sites(config),
    script:
        "../scripts/split_images.py"
