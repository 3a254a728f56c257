# Three GPU jobs. Each checkpoints every epoch under results/models/{model}.checkpoint/ (not an
# output, so it survives a killed job) and resumes from it when re-run with the same inputs.


rule train_baseline:
    input:
        train=shard_files("train"),
        val=shard_files("val"),
        code=[package_file("models.py"), package_file("training.py")],
    output:
        model="results/models/baseline.keras",
        history="results/history/baseline.csv",
    log:
        "results/logs/train_baseline.log",
    benchmark:
        "results/benchmarks/train_baseline.tsv"
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 16000 * attempt,
        runtime=lambda wildcards, attempt: 120 * attempt,
    params:
        settings=config["training"]["baseline"],
        image_size=config["data"]["image_size"],
        checkpoint="results/models/baseline.checkpoint",
        backend=config["training"]["backend"],
    script:
        "../scripts/train_baseline.py"


rule train_transfer:
    input:
        train="results/features/train.npz",
        val="results/features/val.npz",
        weights=weights_input,
        code=[package_file("models.py"), package_file("training.py")],
    output:
        model="results/models/transfer.keras",
        history="results/history/transfer.csv",
    log:
        "results/logs/train_transfer.log",
    benchmark:
        "results/benchmarks/train_transfer.tsv"
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 16000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    params:
        settings=config["training"]["transfer"],
        image_size=config["data"]["image_size"],
        weights_file=WEIGHTS_FILE,
        checkpoint="results/models/transfer.checkpoint",
        backend=config["training"]["backend"],
    script:
        "../scripts/train_transfer.py"


rule train_finetune:
    input:
        train="results/features/train.npz",
        val="results/features/val.npz",
        transfer="results/models/transfer.keras",
        code=[package_file("models.py"), package_file("training.py")],
    output:
        model="results/models/finetune.keras",
        history="results/history/finetune.csv",
    log:
        "results/logs/train_finetune.log",
    benchmark:
        "results/benchmarks/train_finetune.tsv"
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 32000 * attempt,
        runtime=lambda wildcards, attempt: 180 * attempt,
    params:
        settings=config["training"]["finetune"],
        checkpoint="results/models/finetune.checkpoint",
        backend=config["training"]["backend"],
    script:
        "../scripts/train_finetune.py"
