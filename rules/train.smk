# Three GPU jobs (per fold under k-fold cross-validation). Each checkpoints every epoch under
# .../models/{model}.checkpoint/ (not an output, so it survives a killed job) and resumes from it
# when re-run with the same inputs. Each records where it trained in models/{model}.device.json;
# under SLURM it stops before training when its backend sees no GPU (training.require_gpu).


rule train_baseline:
    input:
        train=shard_files("train"),
        val=shard_files("val"),
        split=split_input,
        code=script_code("train_baseline.py"),
    output:
        model=in_run("models/baseline.keras"),
        history=in_run("history/baseline.csv"),
        device=in_run("models/baseline.device.json"),
    log:
        job_file("logs/train_baseline", "log"),
    benchmark:
        job_file("benchmarks/train_baseline", "tsv")
    conda:
        "../envs/train.yaml"
    threads: GPU_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 16000 * attempt,
        runtime=lambda wildcards, attempt: 120 * attempt,
    params:
        settings=config["training"]["baseline"],
        image_size=config["data"]["image_size"],
        checkpoint=checkpoint_dir("baseline"),
        selection=fold_selection,
        backend=config["training"]["backend"],
        require_gpu=config["training"]["require_gpu"],
        acceleration=ACCELERATION,
    script:
        "../scripts/train_baseline.py"


rule train_transfer:
    input:
        train=features_file("train"),
        val=features_file("val"),
        split=split_input,
        weights=weights_input,
        code=script_code("train_transfer.py"),
    output:
        model=in_run("models/transfer.keras"),
        history=in_run("history/transfer.csv"),
        device=in_run("models/transfer.device.json"),
    log:
        job_file("logs/train_transfer", "log"),
    benchmark:
        job_file("benchmarks/train_transfer", "tsv")
    conda:
        "../envs/train.yaml"
    threads: GPU_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 16000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    params:
        settings=config["training"]["transfer"],
        image_size=config["data"]["image_size"],
        weights_file=WEIGHTS_FILE,
        checkpoint=checkpoint_dir("transfer"),
        selection=fold_selection,
        backend=config["training"]["backend"],
        require_gpu=config["training"]["require_gpu"],
        acceleration=ACCELERATION,
    script:
        "../scripts/train_transfer.py"


rule train_finetune:
    input:
        train=features_file("train"),
        val=features_file("val"),
        split=split_input,
        transfer=in_run("models/transfer.keras"),
        code=script_code("train_finetune.py"),
    output:
        model=in_run("models/finetune.keras"),
        history=in_run("history/finetune.csv"),
        device=in_run("models/finetune.device.json"),
    log:
        job_file("logs/train_finetune", "log"),
    benchmark:
        job_file("benchmarks/train_finetune", "tsv")
    conda:
        "../envs/train.yaml"
    threads: GPU_JOB_THREADS
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 32000 * attempt,
        runtime=lambda wildcards, attempt: 180 * attempt,
    params:
        settings=config["training"]["finetune"],
        head_settings=config["training"]["transfer"],
        checkpoint=checkpoint_dir("finetune"),
        selection=fold_selection,
        backend=config["training"]["backend"],
        require_gpu=config["training"]["require_gpu"],
        acceleration=ACCELERATION,
    script:
        "../scripts/train_finetune.py"
