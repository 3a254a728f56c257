# One job per shard (scatter); training jobs gather all shards of a split (or, k-fold, of the pool).
rule augment_shard:
    input:
        # the split's slices (rule split_views), not the whole manifest: see busflow/split/views.py
        manifest="results/splits/{split}/manifest.csv",
        split="results/splits/{split}/split.csv",
        code=script_code("augment_shard.py"),
    output:
        "results/shards/{split}/{shard}.npz",
    log:
        "results/logs/augment_shard/{split}_{shard}.log",
    benchmark:
        "results/benchmarks/augment_shard/{split}_{shard}.tsv"
    wildcard_constraints:
        split="train|val|test|pool",
        shard=r"\d+",
    group:
        "augment"
    conda:
        "../envs/data.yaml"
    containerized:
        DATA_CONTAINER
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        n_shards=lambda wildcards: n_shards(wildcards.split),
        config={k: config[k] for k in ("data", "split", "augment")},
    script:
        "../scripts/augment_shard.py"
