#!/bin/bash
# The reverse-direction screen: BrEaST-trained fine-tuned VGG16 scored on all of BUSI, one run
# directory per overlay. Run from a folder beside the workflow checkout and ../shared, e.g.
#   BUSFLOW=/path/to/busflow bash run_all.sh E0 E0s2 E1 E2 E2s2 E3 E3s2 E4 E23 E23s2
# (the screen ran with commit e195d4c; about 5-14 min per run on 2 CPU cores).
W=${BUSFLOW:?set BUSFLOW to the busflow checkout}
HERE=$(cd "$(dirname "$0")" && pwd)
for e in "$@"; do
  mkdir -p "$e" && (cd "$e" && "$W/.venv/bin/snakemake" -s "$W/Snakefile" --directory . \
    --configfile "$W/config/paper.yaml" "$W/config/busi_cpu_224.yaml" "$W/config/one_split.yaml" \
    "$HERE/base.yaml" "$HERE/$e.yaml" --cores 2 \
    results/external/busi/eval/finetune/metrics.json results/eval/finetune/metrics.json > run.log 2>&1)
  echo "$e rc=$?"
done
