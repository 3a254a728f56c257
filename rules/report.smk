# Explanations for the report: Score-CAM heat maps of a few test images per model. Score-CAM, not
# Grad-CAM: it needs forward passes only, so it runs on every Keras backend (busflow/evaluate/scorecam.py).


rule scorecam_examples:
    input:
        # k-fold: the fold-0 model on its own test fold
        model=in_run("models/{model}.keras", fold=0),
        operating_point=in_run("operating_point/{model}.json", fold=0),
        test=shard_files("test"),
        split=split_input,
        code=script_code("scorecam_examples.py"),
    output:
        report(
            "results/figures/cam_{model}.png",
            caption="../report/cam.rst",
            category="Explanations",
            labels={"model": "{model}"},
        ),
    log:
        "results/logs/scorecam_examples/{model}.log",
    benchmark:
        "results/benchmarks/scorecam_examples/{model}.tsv"
    wildcard_constraints:
        model="|".join(MODELS),
    conda:
        KERAS_ENV
    containerized:
        KERAS_CONTAINER
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        classes=config["data"]["classes"],
        per_class=3,
        top_k=32,
        selection=selection(0),
        backend=config["training"]["backend"],
    script:
        "../scripts/scorecam_examples.py"
