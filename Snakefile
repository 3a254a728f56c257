# busflow's workflow is workflow/Snakefile (the Snakemake workflow catalog's layout, and the path a
# module or snakedeploy names); this file lets `snakemake` run it from the repository root.


include: "workflow/Snakefile"


# An include keeps the including file's default target (here none): take the workflow's.
workflow.default_target = "all"
