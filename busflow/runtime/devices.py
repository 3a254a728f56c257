"""Where a Keras job runs: the devices its backend sees, the line every Keras job logs first, and
the refusal of a GPU job that would otherwise train on the CPU for days without saying so.

Backend libraries are imported only inside the listing functions (after
busflow.runtime.start.start_job
has chosen the backend), so importing this module costs nothing on any backend.
"""

import importlib
import importlib.metadata
import os
import platform
from dataclasses import asdict, dataclass

from busflow.errors import BusflowError
from busflow.runtime.backends import BACKEND_PACKAGES

ACCELERATORS = ("gpu", "tpu")
# The package whose version names each Keras backend.
# Environment variables that say which GPUs a job was given (CUDA's own, then SLURM's).
GPU_ENVIRONMENT = (
    "CUDA_VISIBLE_DEVICES",
    "SLURM_JOB_GPUS",
    "SLURM_STEP_GPUS",
    "SLURM_GPUS_ON_NODE",
)


class WrongDeviceError(BusflowError):
    """A job asked SLURM for a GPU, but its Keras backend sees none."""


@dataclass(frozen=True)
class Device:
    kind: str  # gpu, tpu or cpu
    name: str
    memory_gib: float | None = None

    def __str__(self) -> str:
        memory = f", {self.memory_gib:.1f} GiB" if self.memory_gib else ""
        return f"{self.kind} {self.name}{memory}"


def _gib(n_bytes) -> float | None:
    return round(n_bytes / 2**30, 1) if n_bytes else None


def cpu_device() -> Device:
    """The host CPU, named as /proc/cpuinfo names it, with the machine's memory."""
    name = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    return Device("cpu", name, _gib(memory))


def _jax_devices() -> list[Device]:
    jax = importlib.import_module("jax")
    devices = []
    for device in jax.devices():
        if device.platform == "cpu":
            continue
        try:
            memory = (device.memory_stats() or {}).get("bytes_limit")
        except Exception:  # not every platform reports memory
            memory = None
        kind = "tpu" if device.platform == "tpu" else "gpu"
        devices.append(Device(kind, device.device_kind, _gib(memory)))
    return devices


def _tensorflow_devices() -> list[Device]:
    tensorflow = importlib.import_module("tensorflow")
    devices = []
    for kind in ("GPU", "TPU"):
        for device in tensorflow.config.list_physical_devices(kind):
            details = (
                tensorflow.config.experimental.get_device_details(device) if kind == "GPU" else {}
            )
            devices.append(Device(kind.lower(), details.get("device_name", device.name)))
    return devices


def _torch_devices() -> list[Device]:
    torch = importlib.import_module("torch")
    if not torch.cuda.is_available():
        return []
    devices = []
    for index in range(torch.cuda.device_count()):
        properties = torch.cuda.get_device_properties(index)
        devices.append(Device("gpu", properties.name, _gib(properties.total_memory)))
    return devices


ACCELERATOR_LISTERS = {
    "jax": _jax_devices,
    "tensorflow": _tensorflow_devices,
    "torch": _torch_devices,
}


def list_devices(backend: str) -> list[Device]:
    """The GPUs/TPUs ``backend`` sees, or the host CPU when it sees none."""
    return ACCELERATOR_LISTERS[backend]() or [cpu_device()]


def has_accelerator(devices) -> bool:
    return any(device.kind in ACCELERATORS for device in devices)


def package_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def job_device(backend: str, devices, threads: int | None = None, environ=None) -> dict:
    """What metrics.json records and the device line says: backend and versions, the devices, the
    CPU threads the framework may use, and the GPUs CUDA/SLURM gave the job (JSON-serialisable)."""
    environ = os.environ if environ is None else environ
    return {
        "backend": backend,
        "backend_version": package_version(BACKEND_PACKAGES[backend]),
        "keras_version": package_version("keras"),
        "devices": [asdict(device) for device in devices],
        "accelerator": has_accelerator(devices),
        "threads": threads,
        "gpu_environment": {name: environ[name] for name in GPU_ENVIRONMENT if name in environ},
        "slurm_job_id": environ.get("SLURM_JOB_ID"),
    }


def describe_devices(record: dict) -> str:
    """'gpu NVIDIA H100 80GB HBM3, 79.1 GiB' (several devices joined by ' + ')."""
    return " + ".join(str(Device(**device)) for device in record["devices"])


def device_summary(record: dict) -> str:
    """A short label for tables: 'jax 0.4.38 on gpu NVIDIA H100 80GB HBM3, 79.1 GiB'."""
    return f"{record['backend']} {record['backend_version']} on {describe_devices(record)}"


def device_line(record: dict, resolved: dict | None = None) -> str:
    """The first line of every Keras job's log: backend and versions, device(s), precision, jit."""
    parts = [
        f"device: {record['backend']} {record['backend_version']} (keras "
        f"{record['keras_version']}) on {describe_devices(record)}"
    ]
    if resolved:
        parts.append(f"precision {resolved['precision']} (setting {resolved['precision_setting']})")
        parts.append(
            f"jit_compile {resolved['jit_compile']} (setting {resolved['jit_compile_setting']})"
        )
    if record.get("threads"):
        parts.append(f"{record['threads']} CPU threads")
    parts += [f"{name}={value}" for name, value in record["gpu_environment"].items()]
    if record.get("slurm_job_id"):
        parts.append(f"SLURM job {record['slurm_job_id']}")
    return "; ".join(parts)


def gpu_requested(resources) -> str | None:
    """The GPU request of a rule's resources ('gpu=1', 'gres=gpu:1'),
    or None when it asks for none."""
    gpu = resources.get("gpu", 0) if hasattr(resources, "get") else 0
    gres = str(resources.get("gres", "") or "") if hasattr(resources, "get") else ""
    if gpu:
        return f"gpu={gpu}"
    if "gpu" in gres:
        return f"gres={gres}"
    return None


def check_gpu_job(requested: str | None, record: dict, require_gpu: bool = True) -> None:
    """Refuse to run a job that asked SLURM for a GPU when the backend sees none.

    Only under SLURM (record['slurm_job_id'] set) and only when ``requested`` (the rule's GPU
    request): on a laptop or a CPU-only machine the CPU stays allowed. ``require_gpu`` False
    (training.require_gpu: false) allows the CPU everywhere. Raises WrongDeviceError naming what
    was asked for, what was found and the fix.
    """
    if not (requested and require_gpu and record.get("slurm_job_id")) or record["accelerator"]:
        return
    given = (
        ", ".join(f"{k}={v}" for k, v in record["gpu_environment"].items())
        or "no CUDA_VISIBLE_DEVICES / SLURM GPU variables"
    )
    raise WrongDeviceError(
        f"This job asked SLURM for a GPU ({requested}, SLURM job {record['slurm_job_id']}; "
        f"{given}), but the Keras backend {record['backend']} {record['backend_version']} (keras "
        f"{record['keras_version']}) lists no GPU or TPU, only: {describe_devices(record)}. It "
        "stops here rather than train on the CPU for days. Fix: install a GPU build in the "
        "environment the jobs use (pip install -e '.[gpu]' and run with --configfile "
        "config/gpu.yaml for Keras on JAX, or pip install -e '.[gpu-tf]' for TensorFlow), check "
        "that the partition gives this job a real GPU (python -m busflow.runtime.doctor), or set "
        "training.require_gpu: false in your config to allow the CPU."
    )
