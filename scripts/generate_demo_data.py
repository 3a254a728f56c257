"""Rule generate_demo_data: write the synthetic demo images (and their lesion masks)
as a class-folder tree of PNGs."""

from busflow.data.demo import generate_demo_dataset
from busflow.runtime.start import start_job

start_job(snakemake)
paths = generate_demo_dataset(
    out_dir=snakemake.params.raw,
    n_per_class=snakemake.params.n_per_class,
    size=snakemake.params.size,
    seed=snakemake.params.seed,
    masks=True,  # BUSI's layout: data.roi can crop to each lesion
)
print(f"wrote {len(paths)} demo images to {snakemake.params.raw}")
