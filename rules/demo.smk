rule generate_demo_data:
    output:
        directory(config["data"]["raw"]),
    params:
        n_per_class=config["demo"]["n_per_class"],
        size=config["demo"]["size"],
        seed=config["demo"]["seed"],
    log:
        "results/logs/generate_demo_data.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/generate_demo_data.py"
