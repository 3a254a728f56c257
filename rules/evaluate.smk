rule evaluate_model:
    input:
        model="results/models/{model}.keras",
        test=shard_files("test"),
        code=[package_file("evaluation.py"), package_file("model_jobs.py")],
    output:
        metrics="results/eval/{model}/metrics.json",
        predictions="results/eval/{model}/predictions.csv",
    params:
        evaluation=config["evaluation"],
        weights=lambda wildcards: "none (trained from scratch)" if wildcards.model == "baseline" else weights_label(),
        backend=config["training"]["backend"],
    wildcard_constraints:
        model="|".join(MODELS),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
    log:
        "results/logs/evaluate_model/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_model/{model}.tsv"
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/evaluate_model.py"
