"""Preflight for the login node: will a SLURM run of this workflow, with these configs and \
profiles, work?

    python -m busflow.runtime.doctor [--configfile FILE ...] [--profile SITE_DIR]
        [--directory RUN_DIR]

Prints one line per check (versions, backend and devices, the GPU build, the VGG16 weights file
the jobs will read, the data folder, the SLURM plugin, partitions with GPUs, the account and
partition the jobs will use, whether squeue can replace sacct as status command) and the fix for
each problem. Exits 1 when any check failed, else 0.
The SLURM checks are skipped, not failed, where ``sinfo`` is not on PATH (not a SLURM node).
"""

import argparse
import getpass
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

from busflow.config.sections import SCHEMA_FILE
from busflow.errors import BusflowError
from busflow.models.registry import model_names, selected_models
from busflow.runtime.backends import (
    BACKEND_PACKAGES,
    CPU_INSTALL,
    CUDA_BUILDS,
    GPU_EXTRAS,
    chosen_backend,
)
from busflow.runtime.memory import estimated_peak_mb, memory_shortfalls, planned_jobs

REPO = Path(__file__).resolve().parents[2]
WORKFLOW_PROFILE = REPO / "profiles" / "slurm"
GPU_RULES = ("extract_vgg16_features", *(f"train_{model}" for model in model_names()))
COMMAND_TIMEOUT = 30


@dataclass
class Check:
    name: str
    status: str  # ok, FAIL, skip
    detail: str
    fix: str = ""

    def __str__(self) -> str:
        line = f"{self.status:4} {self.name}: {self.detail}"
        return line + (f"\n     fix: {self.fix}" if self.fix else "")


def ok(name, detail):
    return Check(name, "ok", detail)


def fail(name, detail, fix):
    return Check(name, "FAIL", detail, fix)


def skip(name, detail):
    return Check(name, "skip", detail)


# --------------------------------------------------------------------------- config and profiles


def merge(base: dict, update: dict) -> dict:
    """Snakemake's --configfile merge: nested mappings merge, everything else is replaced."""
    merged = dict(base)
    for key, value in update.items():
        merged[key] = (
            merge(merged[key], value)
            if isinstance(value, dict) and isinstance(merged.get(key), dict)
            else value
        )
    return merged


def load_config(configfiles, overlay: dict | None = None) -> dict:
    """config/config.yaml with the --configfile files (then ``overlay``) merged over it,
    validated and filled by the schema."""
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for path in configfiles:
        config = merge(config, yaml.safe_load(Path(path).read_text()) or {})
    config = merge(config, overlay or {})
    validate(config, schema=str(SCHEMA_FILE))
    return config


def load_profiles(site_profiles) -> tuple[dict, list[str]]:
    """The settings the site profiles then profiles/slurm give, composed as Snakemake does (a later
    profile replaces an earlier one's whole key), and where each key came from."""
    composed, sources = {}, {}
    for folder in [*site_profiles, WORKFLOW_PROFILE]:
        path = Path(folder) / "config.yaml"
        for key, value in (yaml.safe_load(path.read_text()) or {}).items():
            composed[key], sources[key] = value, str(path)
    return composed, sources


def resource_of(profile: dict, rule: str, name: str):
    """A rule's resource as the profile sets it: set-resources, else default-resources."""
    per_rule = (profile.get("set-resources") or {}).get(rule) or {}
    return per_rule.get(name, (profile.get("default-resources") or {}).get(name))


# --------------------------------------------------------------------------- commands


def run(command: list[str]) -> str | None:
    """stdout of ``command``, or None when it is missing or fails."""
    if not shutil.which(command[0]):
        return None
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def backend_env(backend: str) -> dict:
    """This environment for a fresh Python process on ``backend`` that imports this busflow."""
    return {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }


def probe_backend(backend: str) -> dict:
    """The device record (busflow.runtime.devices.job_device) of ``backend``, from a fresh Python
    process: Keras reads KERAS_BACKEND once, at import."""
    code = (
        "import json, keras; from busflow.runtime.devices import job_device, list_devices; "
        "b = keras.backend.backend(); print(json.dumps(job_device(b, list_devices(b))))"
    )
    env = backend_env(backend)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    if result.returncode != 0:
        raise BusflowError(
            result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- the checks


def backend_of(config: dict) -> str:
    """The backend the jobs will use: KERAS_BACKEND from this shell wins (jobs inherit it)."""
    return chosen_backend(config["training"]["backend"])


def check_versions(config: dict) -> Check:
    backend = backend_of(config)
    found = {name: version(name) for name in ("snakemake", "keras", BACKEND_PACKAGES[backend])}
    detail = f"python {platform.python_version()}, " + ", ".join(
        f"{k} {v or 'MISSING'}" for k, v in found.items()
    )
    missing = [name for name, v in found.items() if v is None]
    if missing:
        return fail(
            "versions",
            detail,
            f"install {', '.join(missing)}: pip install -e '.[{GPU_EXTRAS[backend]}]' on a GPU "
            f"cluster, {CPU_INSTALL[backend]} on the CPU",
        )
    return ok("versions", detail)


def check_devices(config: dict) -> Check:
    from busflow.runtime.devices import describe_devices

    backend = backend_of(config)
    try:
        record = probe_backend(backend)
    except (BusflowError, subprocess.TimeoutExpired) as error:
        return fail(
            "backend",
            f"{backend}: Keras could not start: {error}",
            f"pip install -e '.[{GPU_EXTRAS[backend]}]' ({backend} on a GPU cluster), "
            f"{CPU_INSTALL[backend]} on the CPU",
        )
    detail = (
        f"{backend} {record['backend_version']} (keras {record['keras_version']}) sees "
        f"{describe_devices(record)}"
    )
    if not record["accelerator"]:
        detail += (
            " here (usual on a login node; a GPU job checks its own node and stops if it sees none)"
        )
    return ok("backend", detail)


def smoke_fit_record(backend: str) -> dict:
    """busflow.runtime.smoke_fit's record for ``backend``, from a fresh Python process (Keras reads
    KERAS_BACKEND once, at import). Raises BusflowError with the process's last line."""
    env = backend_env(backend)
    result = subprocess.run(
        [sys.executable, "-m", "busflow.runtime.smoke_fit"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise BusflowError((result.stderr.strip().splitlines() or ["no output"])[-1])
    return json.loads(lines[-1])


def check_smoke_fit(config: dict) -> Check:
    """A tiny conv net fitted for about two seconds on the backend the jobs will use: does the
    loss go down, and do the predictions differ?"""
    backend = backend_of(config)
    try:
        record = smoke_fit_record(backend)
    except (BusflowError, subprocess.TimeoutExpired) as error:
        return fail("smoke fit", f"{backend}: could not fit: {error}", CPU_INSTALL[backend])
    detail = (
        f"{backend}: loss {record['first_loss']:.3f} -> {record['last_loss']:.3f} in "
        f"{record['epochs']} epochs ({record['seconds']:.1f} s after a "
        f"{record['compile_seconds']:.1f} s first epoch), prediction spread "
        f"{record['prediction_std']:.3f}"
    )
    if record["learned"]:
        return ok("smoke fit", detail)
    return fail(
        "smoke fit",
        detail + ": this backend does not train here",
        "check the backend's install and devices (lines above) before submitting jobs, or try "
        "another training.backend",
    )


def check_gpu_build(config: dict) -> Check:
    backend = backend_of(config)
    builds = [f"{name} {version(name)}" for name in CUDA_BUILDS[backend] if version(name)]
    if builds:
        return ok("GPU build", f"{backend} with {', '.join(builds)}")
    if not config["training"]["require_gpu"]:
        return ok(
            "GPU build",
            f"none for {backend}; training.require_gpu: false lets the GPU jobs train on the CPU",
        )
    install = f"pip install -e '.[{GPU_EXTRAS[backend]}]'"
    if backend != "jax":
        install += " (or '.[gpu]' and --configfile config/gpu.yaml for Keras on JAX)"
    return fail(
        "GPU build",
        f"{backend} has no CUDA libraries installed ({' or '.join(CUDA_BUILDS[backend])}): "
        "under SLURM every GPU job will stop with 'asked SLURM for a GPU'",
        f"{install}, or set training.require_gpu: false to let the GPU jobs train on the CPU",
    )


def check_weights(config: dict, directory: Path) -> Check:
    from busflow.models.weights import RESOURCES_COPY, resolve_weights_file

    setting = config["vgg16_weights"]
    path = resolve_weights_file(setting)
    if path is None:
        return ok("weights", "vgg16_weights: none (random initialisation; no file)")
    resolved = path if path.is_absolute() else directory / path
    if resolved.is_file():
        return ok(
            "weights",
            f"vgg16_weights: {setting} -> {resolved} ({resolved.stat().st_size / 2**20:.0f} MiB)",
        )
    fix = (
        "run `snakemake --configfile YOURS.yaml fetch_vgg16_weights` here on the login node "
        f"(writes {RESOURCES_COPY}), or put Keras' file into ~/.keras/models/"
        if setting == "imagenet"
        else f"fix vgg16_weights in your config: {setting} does not exist"
    )
    return fail(
        "weights",
        f"vgg16_weights: {setting} -> {resolved} is missing (compute nodes cannot download it)",
        fix,
    )


def check_data(config: dict, directory: Path) -> Check:
    from busflow.config.sites import sites_of
    from busflow.data.layout import LayoutRules, check_layout, list_candidate_files
    from busflow.errors import DatasetLayoutError

    if config["demo"]["generate"]:
        return ok(
            "data",
            f"data.raw: {config['data']['raw']} (demo.generate: true, the "
            "workflow writes generated images there)",
        )
    rules = LayoutRules.from_config(config["data"])
    found = []
    for site in sites_of(config["data"]):
        raw = Path(site.path) if Path(site.path).is_absolute() else directory / site.path
        setting = f"data.raw ({site.name})" if site.name else "data.raw"
        try:
            check_layout(raw, rules, setting)
        except (DatasetLayoutError, OSError) as error:
            return fail(
                "data",
                f"{setting}: {error}",
                f"set {setting} in your config to the folder that holds one "
                f"sub-folder per class ({', '.join(config['data']['classes'])})",
            )
        found.append(f"{raw}, {len(list_candidate_files(raw, rules))} images")
    return ok("data", f"data.raw: {'; '.join(found)} in {', '.join(config['data']['classes'])}")


def check_plugin() -> Check:
    found = version("snakemake-executor-plugin-slurm")
    if not found:
        return fail(
            "SLURM plugin",
            "snakemake-executor-plugin-slurm is not installed",
            "pip install -e . (busflow pins it)",
        )
    return ok("SLURM plugin", f"snakemake-executor-plugin-slurm {found}")


def gpu_partitions() -> dict[str, str] | None:
    """{partition: gres} of the partitions whose nodes have GPUs, or None without sinfo."""
    out = run(["sinfo", "-h", "-o", "%P %G"])
    if out is None:
        return None
    found = {}
    for line in out.splitlines():
        partition, _, gres = line.strip().partition(" ")
        if "gpu" in gres:
            found[partition.rstrip("*")] = gres
    return found


def check_partitions(profile: dict, sources: dict) -> Check:
    found = gpu_partitions()
    if found is None:
        return skip("GPU partitions", "sinfo is not on PATH: not a SLURM node")
    if not found:
        return fail(
            "GPU partitions",
            "sinfo lists no partition with GPUs (column GRES has no 'gpu')",
            "run on the login node of a cluster with GPUs, or ask your "
            "admins which partition has them",
        )
    asked = {rule: resource_of(profile, rule, "slurm_partition") for rule in GPU_RULES}
    wrong = sorted({p for p in asked.values() if p and p not in found})
    listed = ", ".join(f"{p} ({g})" for p, g in found.items())
    if wrong:
        where = sources.get("set-resources") or sources.get("default-resources")
        return fail(
            "GPU partitions",
            f"the GPU jobs would go to {', '.join(wrong)}, which has no GPUs; with GPUs: {listed}",
            "set slurm_partition of the GPU rules under set-resources in "
            f"{where} to one of: {', '.join(found)}",
        )
    chosen = sorted({p for p in asked.values() if p}) or ["the cluster's default partition"]
    return ok("GPU partitions", f"{listed}; the GPU jobs go to {', '.join(chosen)}")


def check_memory(config: dict, profile: dict, sources: dict) -> Check:
    """Before submission: a profile's mem_mb (set-resources or default-resources) below a Keras
    job's estimated peak under this config (busflow.runtime.memory) would be killed for memory."""
    asked = lambda rule: resource_of(profile, rule, "mem_mb")  # noqa: E731
    short = memory_shortfalls(config, selected_models(config), asked)
    if short:
        where = sources.get("set-resources") or sources.get("default-resources")
        return fail(
            "job memory",
            "; ".join(short),
            f"raise mem_mb of these rules in {where} (or remove it: the rules ask for the "
            "estimate with headroom), or lower their batch size or data.image_size",
        )
    peaks = {
        rule: estimated_peak_mb(job, config, model)
        for rule, job, model in planned_jobs(config, selected_models(config))
    }
    largest = max(peaks, key=peaks.get)
    return ok("job memory", f"largest estimated peak {peaks[largest]:.0f} MB ({largest})")


def check_account(profile: dict, sources: dict) -> Check:
    if not shutil.which("sinfo"):
        return skip("account", "sinfo is not on PATH: not a SLURM node")
    user = getpass.getuser()
    out = run(["sacctmgr", "-n", "-P", "-s", "list", "user", user, "format=account"])
    accounts = sorted({line.strip() for line in (out or "").splitlines() if line.strip()})
    account = resource_of(profile, GPU_RULES[0], "slurm_account")
    if not account:
        if accounts:
            return ok(
                "account",
                f"none set; the SLURM plugin will pick one of {user}'s "
                f"accounts: {', '.join(accounts)}",
            )
        return fail(
            "account",
            f"no slurm_account set and sacctmgr lists no account for {user}",
            "put slurm_account under default-resources in your site profile (--profile SITE)",
        )
    where = sources.get("default-resources", "the profiles")
    if accounts and account not in accounts:
        return fail(
            "account",
            f"slurm_account {account} (from {where}) is not one of {user}'s "
            f"accounts: {', '.join(accounts)}",
            f"set slurm_account in {where} to one of: {', '.join(accounts)}",
        )
    return ok("account", f"slurm_account {account} (from {where})")


# squeue forgets a finished job after MinJobAge; the plugin wants 3 status-check intervals of it.
SQUEUE_MIN_JOB_AGE = 120


def check_status_command(profile: dict) -> Check:
    """Informational: whether --slurm-status-command squeue (which sees a scancel'd job as
    CANCELLED, unlike the plugin's reading of sacct) is safe on this cluster."""
    out = run(["scontrol", "show", "config"])
    if out is None:
        return skip("scancel", "scontrol is not on PATH: not a SLURM node")
    ages = [
        line.split("=", 1)[1].split()[0]
        for line in out.splitlines()
        if line.replace(" ", "").startswith("MinJobAge=")
    ]
    age = int(ages[0]) if ages and ages[0].isdigit() else None
    chosen = profile.get("slurm-status-command", "sacct (the plugin's default)")
    if age is not None and age >= SQUEUE_MIN_JOB_AGE:
        return ok(
            "scancel",
            f"MinJobAge {age} s: slurm-status-command squeue is safe here and makes a job you "
            f"scancel fail instead of hanging; in use: {chosen}",
        )
    return ok(
        "scancel",
        f"MinJobAge {age} s is too short for squeue: keep sacct; after a scancel stop "
        "Snakemake with Ctrl-C and start it again",
    )


def run_checks(config: dict, profile: dict, sources: dict, directory: Path) -> list[Check]:
    return [
        check_versions(config),
        check_devices(config),
        check_smoke_fit(config),
        check_gpu_build(config),
        check_weights(config, directory),
        check_data(config, directory),
        check_plugin(),
        check_partitions(profile, sources),
        check_memory(config, profile, sources),
        check_account(profile, sources),
        check_status_command(profile),
    ]


HELP_EPILOG = """\
Output: one line per check, "<status> <check>: <what was found>", status ok, FAIL, or skip (a
SLURM check off a SLURM node); each FAIL is followed by "fix: <what to do>". Then "no problems
found" or "<n> problem(s): <checks>". The checks, in order:
  versions        Python, and the installed Snakemake, Keras and backend package
  backend         Keras starts on the backend the jobs will use (training.backend; KERAS_BACKEND
                  wins), and the devices it sees
  smoke fit       a tiny conv net fitted for two seconds (at least 20 epochs) there: does the
                  loss go down?
  GPU build       the backend's CUDA libraries are installed (unless training.require_gpu: false)
  weights         the VGG16 weights file the jobs will read exists (compute nodes cannot
                  download it)
  data            each data.raw site is a folder of one sub-folder per class (skipped under
                  demo.generate)
  SLURM plugin    snakemake-executor-plugin-slurm is installed
  GPU partitions  sinfo lists partitions with GPUs, and the GPU rules' slurm_partition is one
  job memory      no profile mem_mb is below a job's estimated peak under this config
                  (busflow.runtime.memory, fitted to measured peaks)
  account         the profiles' slurm_account is one of your accounts (sacctmgr)
  scancel         informational: whether slurm-status-command squeue is safe here (MinJobAge),
                  so that a job you scancel fails instead of leaving Snakemake waiting
A config file or profile that does not load is reported first, as "FAIL config".

Exit codes: 0 no check failed (skips allowed); 1 a check failed, or a config file or profile
did not load; 2 a wrong option (argparse's usage error).
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m busflow.runtime.doctor",
        description=textwrap.fill(__doc__.splitlines()[0], 79),
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--configfile", nargs="+", default=[], help="your config files, as given to snakemake"
    )
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        help="your site profile folder (as --profile of snakemake); repeat it for several",
    )
    parser.add_argument(
        "--directory", default=".", help="the run's working directory (snakemake --directory)"
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.configfile)
        profile, sources = load_profiles(args.profile)
    except Exception as error:  # a config that does not load is the first thing to fix
        print(
            f"FAIL config: {error}\n     fix: correct the file named above "
            "(config/schema.yaml documents every key)"
        )
        return 1
    checks = run_checks(config, profile, sources, Path(args.directory))
    for check in checks:
        print(check)
    failed = [check.name for check in checks if check.status == "FAIL"]
    print(f"\n{len(failed)} problem(s): {', '.join(failed)}" if failed else "\nno problems found")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
