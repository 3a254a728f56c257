"""Rule generate_demo_data: write the synthetic demo images as a class-folder tree of PNGs."""

from busflow.demo_data import generate_demo_dataset
from busflow.runtime import start_job

start_job(snakemake)
paths = generate_demo_dataset(
    snakemake.params.raw, snakemake.params.n_per_class, snakemake.params.size, snakemake.params.seed
)
print(f"wrote {len(paths)} demo images to {snakemake.params.raw}")
