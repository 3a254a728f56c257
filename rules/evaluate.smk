rule evaluate_model:
    input:
        model="results/models/{model}.keras",
        test=shard_files("test"),
        code=[package_file("evaluation.py"), package_file("model_jobs.py")],
    output:
        metrics="results/eval/{model}/metrics.json",
        predictions="results/eval/{model}/predictions.csv",
    log:
        "results/logs/evaluate_model/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_model/{model}.tsv"
    wildcard_constraints:
        model="|".join(MODELS),
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        evaluation=config["evaluation"],
        weights=lambda wildcards: (
            "none (trained from scratch)"
            if wildcards.model == "baseline"
            else weights_label()
        ),
        backend=config["training"]["backend"],
    script:
        "../scripts/evaluate_model.py"
