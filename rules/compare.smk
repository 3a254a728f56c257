localrules:
    compare_models,
    plot_figures,


rule compare_models:
    input:
        metrics=expand("results/eval/{model}/metrics.json", model=MODELS),
        references=os.path.join(workflow.basedir, "config", "reference_results.csv"),
        code=package_file("comparison.py"),
    output:
        csv="results/comparison.csv",
        html=report(
            "results/comparison.html",
            caption="../report/comparison.rst",
            category="Comparison",
        ),
        md="results/comparison.md",
    log:
        "results/logs/compare_models.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/compare_models.py"


rule plot_figures:
    input:
        histories=expand("results/history/{model}.csv", model=MODELS),
        predictions=expand("results/eval/{model}/predictions.csv", model=MODELS),
        metrics=expand("results/eval/{model}/metrics.json", model=MODELS),
        code=package_file("figures.py"),
    output:
        curves=report(
            expand("results/figures/training_{model}.png", model=MODELS),
            caption="../report/training_curves.rst",
            category="Training curves",
        ),
        roc=report(
            "results/figures/roc.png",
            caption="../report/roc.rst",
            category="Evaluation",
        ),
        confusion=report(
            "results/figures/confusion_matrices.png",
            caption="../report/confusion.rst",
            category="Evaluation",
        ),
    log:
        "results/logs/plot_figures.log",
    conda:
        "../envs/data.yaml"
    params:
        models=MODELS,
        classes=config["data"]["classes"],
    script:
        "../scripts/plot_figures.py"
