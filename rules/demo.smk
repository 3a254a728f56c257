localrules:
    generate_demo_data,


rule generate_demo_data:
    output:
        demo_images(),
    log:
        "results/logs/generate_demo_data.log",
    conda:
        "../envs/data.yaml"
    params:
        raw=config["data"]["raw"],
        n_per_class=config["demo"]["n_per_class"],
        size=config["demo"]["size"],
        seed=config["demo"]["seed"],
    script:
        "../scripts/generate_demo_data.py"
