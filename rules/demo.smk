rule generate_demo_data:
    input:
        code=script_code("generate_demo_data.py"),
    output:
        demo_images(),
        demo_masks(),
        record=demo_record(),
    log:
        "results/logs/generate_demo_data.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    containerized:
        DATA_CONTAINER
    params:
        # <raw>/<class>/<file>.png: the folder two levels up from any output
        raw=lambda wildcards, output: os.path.dirname(os.path.dirname(output[0])),
        n_per_class=config["demo"]["n_per_class"],
        size=config["demo"]["size"],
        seed=config["demo"]["seed"],
    script:
        "../scripts/generate_demo_data.py"
