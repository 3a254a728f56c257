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


# Each shard split's slice of the manifest and the split: all the augment jobs read. A checkpoint,
# so that Snakemake plans the jobs below it again once it has run, and skips those whose slices
# came out byte-identical: new pixels in a test image re-run the test shards and the evaluation,
# not the training (busflow/split/views.py).
checkpoint split_views:
    input:
        manifest="results/manifest.csv",
        split="results/split.csv",
        code=script_code("split_views.py"),
    output:
        **{
            name: path
            for split in shard_splits()
            for name, path in view_files(split).items()
        },
    log:
        "results/logs/split_views.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    containerized:
        DATA_CONTAINER
    params:
        splits=shard_splits(),
        protocol=PROTOCOL,
    script:
        "../scripts/split_views.py"
