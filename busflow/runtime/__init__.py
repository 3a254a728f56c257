"""How a job runs: the Keras backend, the devices, the fast path, and the login-node preflight.

``start`` is what every job does first (log file, backend, seeds); ``backends`` is the one table of
Keras backends and their packages; ``devices`` says where a job runs and stops a GPU job that finds
no GPU; ``acceleration`` resolves mixed precision and jit; ``keras_job`` applies them;
``smoke_fit`` checks training works here; ``doctor`` (``python -m busflow.runtime.doctor``) checks a
SLURM run will work before it is submitted.
"""
