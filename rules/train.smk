# One GPU training job per model of busflow/models/registry.py (per fold under k-fold cross-validation),
# rule train_<model>. Each checkpoints every epoch under .../models/{model}.checkpoint/ (not an
# output, so it survives a killed job) and resumes from it when re-run with the same inputs. Each
# records where it trained in models/{model}.device.json; under SLURM it stops before training when
# its backend sees no GPU (training.require_gpu).


def training_inputs(spec):
    """What a model's job reads: pixel shards or cached features, and the model it starts from."""
    if spec.reads == (PIXELS,):
        inputs = {"train": shard_files("train"), "val": shard_files("val")}
    else:
        inputs = {"train": features_file("train"), "val": features_file("val")}
    if spec.starts_from:
        inputs["start"] = in_run(f"models/{spec.starts_from}.keras")
    elif spec.pretrained:
        inputs["weights"] = weights_input(None)
    return inputs


for spec in MODEL_SPECS:

    rule:
        name:
            f"train_{spec.name}"
        input:
            **training_inputs(spec),
            split=split_input,
            # only the train and val slices: a test image's change re-runs no training
            views=views_of("train", "val"),
            code=script_code("train_model.py"),
        output:
            model=in_run(f"models/{spec.name}.keras"),
            history=in_run(f"history/{spec.name}.csv"),
            device=in_run(f"models/{spec.name}.device.json"),
        log:
            job_file(f"logs/train_{spec.name}", "log"),
        benchmark:
            job_file(f"benchmarks/train_{spec.name}", "tsv")
        conda:
            KERAS_ENV
        containerized:
            KERAS_CONTAINER
        threads: GPU_JOB_THREADS
        resources:
            gpu=1,
            mem_mb=lambda wildcards, attempt, model=spec.name: rule_mem_mb(
                training_job(model), config, attempt, model
            ),
            runtime=lambda wildcards, attempt, minutes=spec.runtime: minutes * attempt,
        params:
            **training_run(config, spec, WEIGHTS_FILE, fold_selection),
            model=spec.name,
            checkpoint=checkpoint_dir,
            backend=config["training"]["backend"],
            require_gpu=config["training"]["require_gpu"],
        script:
            "../scripts/train_model.py"
