"""Rule write_model_card: the run's model card, Markdown and HTML."""

from busflow.jobs.write_model_card import write_model_card_job
from busflow.runtime.start import start_job

start_job(snakemake)

write_model_card_job(
    comparison_csv=snakemake.input.comparison,
    export_dirs=snakemake.input.exports,
    out=dict(snakemake.output.items()),
)
