# busflow: breast-ultrasound images -> manifest -> split -> augmented shards -> three models ->
# evaluation -> comparison with the paper (Table 1) and Hadad et al.  See README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/manifest.smk"
include: "rules/split.smk"
include: "rules/augment.smk"
include: "rules/features.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/compare.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
