# busflow: breast-ultrasound images -> manifest -> split -> augmented shards -> three models ->
# evaluation (one split or k folds; external sets) -> comparison with the paper (Table 1) and Hadad et al.  See README.md.
import os

from snakemake.utils import min_version

min_version("9.0")


# Next to this Snakefile, so that --directory DIR runs keep their results apart; --configfile
# files given on the command line are merged over it.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/manifest.smk"
include: "rules/split.smk"
include: "rules/augment.smk"
include: "rules/features.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/external.smk"
include: "rules/compare.smk"
include: "rules/report.smk"
include: "rules/export.smk"
include: "rules/predict.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
