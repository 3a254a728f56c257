"""What every Snakemake job does first: log to its log file, pick the Keras backend, cap threads.

It must run before Keras is imported, because Keras reads KERAS_BACKEND once at import.
"""

import os
import sys

BACKENDS = ("tensorflow", "jax", "torch")


def redirect_output(log_path) -> None:
    """Send stdout, stderr and the C libraries' output (TensorFlow's too) to the rule's log."""
    log = open(log_path, "a", buffering=1)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log


def select_backend(backend: str | None) -> None:
    """Use KERAS_BACKEND from the environment if set (a GPU site's choice), else the config's."""
    chosen = os.environ.get("KERAS_BACKEND") or backend or "tensorflow"
    if chosen not in BACKENDS:
        raise ValueError(f"Keras backend '{chosen}' is not one of {', '.join(BACKENDS)}")
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != chosen:
        raise RuntimeError("Keras was imported before the backend was chosen; call start_job first")
    os.environ["KERAS_BACKEND"] = chosen


def limit_threads(threads: int) -> None:
    for variable in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def start_job(smk, backend: str | None = None) -> None:
    """Set up a Snakemake script job: ``smk`` is the ``snakemake`` object of the script."""
    if smk.log:
        redirect_output(smk.log[0])
    limit_threads(smk.threads)
    select_backend(backend)
