localrules:
    generate_demo_data,


rule generate_demo_data:
    output:
        directory(config["data"]["raw"]),
    log:
        "results/logs/generate_demo_data.log",
    conda:
        "../envs/data.yaml"
    params:
        n_per_class=config["demo"]["n_per_class"],
        size=config["demo"]["size"],
        seed=config["demo"]["seed"],
    script:
        "../scripts/generate_demo_data.py"
