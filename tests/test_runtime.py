"""What every job does first: threads from the SLURM allocation, the device line on top of the log,
and busflow imported from the workflow's own folder."""

import os
import subprocess
import sys

from busflow.runtime.start import import_busflow_from, job_threads


def test_the_device_line_goes_above_what_the_backend_printed_while_loading(tmp_path):
    """In a child process: redirect_output points its file descriptors at the log."""
    log = tmp_path / "job.log"
    log.write_text("an earlier attempt's output\n")
    code = (
        "import os; from busflow.runtime.start import redirect_output, log_first; "
        f"redirect_output({str(log)!r}); os.write(2, b'I0000 oneDNN custom operations are on\\n'); "
        "print('before'); log_first('device: jax 0.10.2 on gpu X'); print('after')"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert log.read_text().splitlines() == [
        "an earlier attempt's output",
        "device: jax 0.10.2 on gpu X",
        "I0000 oneDNN custom operations are on",
        "before",
        "after",
    ]


# --------------------------------------------------------------------------- threads


def test_a_slurm_job_uses_every_cpu_it_was_given():
    assert (
        job_threads(2, {"SLURM_JOB_ID": "1", "SLURM_CPUS_ON_NODE": "6"}, affinity=set(range(6)))
        == 6
    )


def test_a_slurm_job_falls_back_to_slurm_cpus_per_task():
    assert job_threads(2, {"SLURM_JOB_ID": "1", "SLURM_CPUS_PER_TASK": "8"}, affinity=set()) == 8


def test_a_slurm_job_on_a_node_without_cpu_binding_does_not_count_the_whole_node():
    assert (
        job_threads(2, {"SLURM_JOB_ID": "1", "SLURM_CPUS_ON_NODE": "4"}, affinity=set(range(128)))
        == 4
    )


def test_a_slurm_job_without_slurm_cpu_variables_uses_its_affinity_mask():
    assert job_threads(2, {"SLURM_JOB_ID": "1"}, affinity={0, 1, 2}) == 3


def test_a_local_job_uses_the_threads_snakemake_gave_it():
    assert job_threads(3, {}, affinity={0, 1, 2, 3, 4, 5}) == 3


def test_jobs_import_busflow_from_the_workflows_folder_before_any_installed_one(
    tmp_path, monkeypatch
):
    """What --software-deployment-method conda relies on: envs/*.yaml do not install busflow."""
    (tmp_path / "busflow").mkdir()
    (tmp_path / "busflow" / "__init__.py").write_text("WHERE = 'the workflow folder'\n")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    import_busflow_from(tmp_path)
    assert os.environ["PYTHONPATH"] == f"{tmp_path}{os.pathsep}/somewhere/else"
    import_busflow_from(tmp_path)  # parsed again (a SLURM job): no duplicate
    assert os.environ["PYTHONPATH"].count(str(tmp_path)) == 1
    child = subprocess.run(
        [sys.executable, "-c", "import busflow; print(busflow.WHERE)"],
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
    )
    assert child.stdout.strip() == "the workflow folder"
