# Runs on the submitting (login) node, which has internet; compute nodes only read the file.
rule fetch_vgg16_weights:
    output:
        user_files(["resources/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"]),
    log:
        "results/logs/fetch_vgg16_weights.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    containerized:
        DATA_CONTAINER
    script:
        "../scripts/fetch_vgg16_weights.py"


# VGG16's frozen outputs, computed once per sample, those the registered models read
# (busflow/models/registry.py): block5_pool feeds the transfer head, block4_pool fine-tuning of block5
# (blocks 1-4 never change, so only block5 runs per epoch).
rule extract_vgg16_features:
    input:
        shards=lambda wildcards: shard_files(wildcards.split),
        weights=weights_input,
        views=views_of("{split}"),
        code=script_code("extract_vgg16_features.py"),
    output:
        "results/features/{split}.npz",
    log:
        "results/logs/extract_vgg16_features/{split}.log",
    benchmark:
        "results/benchmarks/extract_vgg16_features/{split}.tsv"
    wildcard_constraints:
        split="train|val|test|pool",
    conda:
        KERAS_ENV
    containerized:
        KERAS_CONTAINER
    threads: GPU_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: rule_mem_mb(
            "extract_vgg16_features", config, attempt
        ),
        runtime=lambda wildcards, attempt: 60 * attempt,
    params:
        weights_file=WEIGHTS_FILE,
        image_size=config["data"]["image_size"],
        batch_size=config["training"]["feature_batch_size"],
        feature_keys=feature_keys(MODELS),
        backend=config["training"]["backend"],
        require_gpu=config["training"]["require_gpu"],
        acceleration=ACCELERATION,
    script:
        "../scripts/extract_vgg16_features.py"
