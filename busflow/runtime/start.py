"""What every Snakemake job does first: log to its log file, pick the Keras backend, set the
threads to the CPUs the job was given, and (GPU rules under SLURM) refuse to run without a GPU.

It must run before Keras is imported, because Keras reads KERAS_BACKEND once at import.
"""

import os
import sys

from busflow.runtime.backends import chosen_backend, require_installed

# The rule's log and where this job's part of it starts (an earlier attempt's part stays above).
_job_log: dict = {}


def import_busflow_from(folder) -> None:
    """Put ``folder`` (the workflow's, which holds busflow/) first on the PYTHONPATH that the job
    processes Snakemake starts inherit, so their scripts import this busflow whatever is
    installed."""
    paths = [
        str(folder),
        *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(folder)),
    ]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)


def redirect_output(log_path) -> None:
    """Send stdout, stderr and the C libraries' output (TensorFlow's too) to the rule's log."""
    log = open(log_path, "a", buffering=1)
    _job_log.update(path=log_path, start=log.tell())
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log


def log_first(line: str) -> None:
    """Print ``line`` as the first line of this job's part of its log, above what the backend
    libraries printed while they loaded (TensorFlow writes before anything can be said)."""
    sys.stdout.flush()
    if not _job_log:
        print(line)
        return
    with open(_job_log["path"], "r+b") as log:
        log.seek(_job_log["start"])
        earlier = log.read()
        log.seek(_job_log["start"])
        log.truncate()
        log.write(line.encode() + b"\n" + earlier)
        log.flush()


def select_backend(
    backend: str | None, keras_job: bool = False, setting: str = "training.backend"
) -> None:
    """Use KERAS_BACKEND from the environment if set (a GPU site's choice), else the config's
    (busflow.runtime.backends.chosen_backend). A Keras job (``keras_job``) stops with a ConfigError
    that names the install when that backend is not installed, before Keras fails to import it.
    Errors name ``setting`` for ``backend``: the config key, or a command line's flag."""
    chosen = chosen_backend(backend, setting=setting)
    if keras_job:
        require_installed(chosen, setting)
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != chosen:
        raise RuntimeError("Keras was imported before the backend was chosen; call start_job first")
    os.environ["KERAS_BACKEND"] = chosen


def job_threads(threads: int, environ=None, affinity=None) -> int:
    """The CPU threads a job's framework may use: under SLURM every CPU of the job's allocation on
    this node (SLURM_CPUS_ON_NODE, else SLURM_CPUS_PER_TASK), capped by the CPUs this process may
    run on; elsewhere the rule's ``threads`` as Snakemake scaled them.

    A SLURM job owns its CPUs whatever the rule asked (a site may give more per GPU); the cap
    keeps a site without CPU binding from counting the whole node.
    """
    environ = os.environ if environ is None else environ
    if not environ.get("SLURM_JOB_ID"):
        return threads
    if affinity is None:
        affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else ()
    allocated = int(environ.get("SLURM_CPUS_ON_NODE") or environ.get("SLURM_CPUS_PER_TASK") or 0)
    if allocated and affinity:
        return min(allocated, len(affinity))
    return allocated or len(affinity) or threads


def limit_threads(threads: int) -> None:
    for variable in (
        "OMP_NUM_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
    ):
        os.environ[variable] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def start_job(smk, backend: str | None = None, require_gpu: bool = True) -> int:
    """Set up a Snakemake script job: ``smk`` is the ``snakemake`` object of the script.

    A job whose rule asks for a GPU (resources gpu or gres) uses every CPU of its SLURM
    allocation (it is alone in it; grouped CPU jobs such as augment_shard share theirs, so they
    keep their threads), and under SLURM imports Keras and stops with
    busflow.runtime.devices.WrongDeviceError when the backend sees no GPU, unless ``require_gpu`` is
    False (training.require_gpu). Returns the CPU threads the job may use.
    """
    from busflow.runtime.devices import gpu_requested

    if smk.log:
        redirect_output(smk.log[0])
    threads = job_threads(smk.threads) if gpu_requested(smk.resources) else smk.threads
    limit_threads(threads)
    select_backend(backend, keras_job=backend is not None)
    refuse_wrong_device(smk.resources, threads, require_gpu)
    return threads


def refuse_wrong_device(resources, threads: int, require_gpu: bool) -> None:
    from busflow.runtime import devices

    requested = devices.gpu_requested(resources)
    if not (requested and require_gpu and os.environ.get("SLURM_JOB_ID")):
        return  # nothing to refuse: do not pay for importing the backend here
    import keras

    backend = keras.backend.backend()
    record = devices.job_device(backend, devices.list_devices(backend), threads)
    devices.check_gpu_job(requested, record, require_gpu)
