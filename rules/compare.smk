rule compare_models:
    input:
        metrics=[metrics_file(model) for model in MODELS],
        sites=held_out_site_metrics_files(),
        external=external_metrics_files(),
        references=os.path.join(SOURCE, "config", "reference_results.csv"),
        code=script_code("compare_models.py"),
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
    localrule: True
    conda:
        "../envs/data.yaml"
    containerized:
        DATA_CONTAINER
    params:
        roi=ROI,
    script:
        "../scripts/compare_models.py"


rule plot_figures:
    input:
        histories=[path for model in MODELS for path in history_files(model)],
        predictions=[predictions_file(model) for model in MODELS],
        metrics=[metrics_file(model) for model in MODELS],
        code=script_code("plot_figures.py"),
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
        calibration=report(
            "results/figures/calibration.png",
            caption="../report/calibration.rst",
            category="Evaluation",
        ),
    log:
        "results/logs/plot_figures.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    containerized:
        DATA_CONTAINER
    params:
        models=MODELS,
        folds=FOLDS,
        classes=config["data"]["classes"],
        calibration_bins=config["evaluation"]["calibration_bins"],
    script:
        "../scripts/plot_figures.py"
