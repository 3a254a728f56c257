"""Rule export_models: each trained model of the run (of one fold) as a folder that stock Keras 3
loads without busflow."""

from pathlib import Path

from busflow.runtime.start import start_job

start_job(snakemake, snakemake.params.backend)

from busflow.jobs.export_models import export_models_job  # noqa: E402  (Keras only after the backend is set)

# The workflow's folder, for the code version (git describe); not a param, so that a new commit
# re-runs nothing by itself.
workflow_dir = str(Path(snakemake.scriptdir).parent)
for model, model_file, operating_point, out_dir in zip(
    snakemake.params.models,
    snakemake.input.models,
    snakemake.input.operating_points,
    snakemake.output,
):
    export_models_job(
        model_file=model_file,
        operating_point_file=operating_point,
        manifest_csv=snakemake.input.manifest,
        split_csv=snakemake.input.split,
        run={**snakemake.params.run, "model": model, "workflow_dir": workflow_dir},
        out_dir=out_dir,
    )
