# Per-group job sizing from config["resources"], read by every rule and by the SLURM
# profile (slurm/config.yaml). GPU rules use the train, generate, evaluate and hma groups;
# data, recipe, table and figure rules use cpu and request no GPU.
#
# In a rule:
#     threads: job_threads("train")
#     resources:
#         **job_resources("train"),
#
# job_resources gives mem_mb and runtime (both grow with the retry attempt), and for GPU
# groups gpu (-> sbatch --gpus=N) and gpu_model (-> --gpus=<model>:N) when a model is set.
# Local runs (`snakemake --cores N`) ignore gpu/gpu_model unless --resources limits them.
#
# Multi-GPU groups (processes > 1, e.g. 7B training) run as ONE SLURM job holding all the
# GPUs (one task, `threads` CPUs); inside it `accelerate launch` starts one process per GPU.
# A group with gpus: 0 and processes > 1 trains in CPU processes (gloo) on one machine.
# Rules pass job_accelerate(group) as a param (alignment_tax.training_common.run_stage
# launches it); shell rules can use job_launcher(group) as their command prefix.
import os
from pathlib import Path

import yaml

# The repository root (this file is rules/resources.smk), also when another Snakefile, such
# as the SLURM test's fixture, includes this file.
_REPO_ROOT = Path(workflow.current_basedir).parent


def _group(name):
    groups = config["resources"]["groups"]
    if name not in groups:
        raise ValueError(
            f"config key 'resources.groups.{name}' is missing (known: {sorted(groups)})"
        )
    return groups[name]


def _site_value(key, env_var):
    """A cluster-specific value: environment variable first, then slurm/site.yaml.

    slurm/site.yaml is the git-ignored user file that the SLURM profile also reads
    (partition, account, gpu_model).
    """
    if os.environ.get(env_var):
        return os.environ[env_var]
    site_file = _REPO_ROOT / "slurm" / "site.yaml"
    if site_file.exists():
        site = yaml.safe_load(site_file.read_text()) or {}
        if site.get(key):
            return str(site[key])
    return None


def job_gpus(name):
    return _group(name)["gpus"]


def job_threads(name):
    return _group(name).get("cpus", 1)


def job_processes(name):
    """Processes `accelerate launch` starts for the group (1 = a plain python process)."""
    return _group(name).get("processes", 1)


def job_mem_mb(name):
    base = _group(name)["mem_mb"]
    return lambda wildcards, attempt: base * attempt


def job_runtime(name):
    """Minutes; the SLURM executor turns it into sbatch -t."""
    base = _group(name)["runtime"]
    return lambda wildcards, attempt: base * attempt


def job_gpu_model(name):
    """GPU model for groups that use GPUs, else None (Snakemake then drops the resource).

    $SLURM_GPU_MODEL, then slurm/site.yaml gpu_model, then config resources.gpu_model.
    It must be None on CPU groups: the executor turns any gpu_model into a GPU request.
    """
    if job_gpus(name) == 0:
        return None
    return _site_value("gpu_model", "SLURM_GPU_MODEL") or config["resources"].get(
        "gpu_model"
    )


def job_resources(name):
    """All resources of a job of group `name`, for `resources: **job_resources(name)`."""
    resources = {"mem_mb": job_mem_mb(name), "runtime": job_runtime(name)}
    gpus = job_gpus(name)
    if gpus > 0:
        resources["gpu"] = gpus
        gpu_model = job_gpu_model(name)
        if gpu_model:
            resources["gpu_model"] = gpu_model
    return resources


def job_accelerate(name):
    """How the group's script is launched, as a rule param.

    num_processes changes the global batch of data-parallel training, so it belongs to
    the params (a change reruns the job). config_file stays relative to the workflow
    root so that moving the checkout does not change the params.
    """
    group = _group(name)
    processes = group.get("processes", 1)
    # gpus: 0 = CPU processes (gloo), at most one per CPU; else one process per GPU
    devices, kind = (
        (group.get("cpus", 1), "cpus")
        if group["gpus"] == 0
        else (group["gpus"], "gpus")
    )
    if processes > 1 and processes > devices:
        raise ValueError(
            f"config key 'resources.groups.{name}.processes' ({processes}) exceeds its "
            f"{kind} ({devices}): accelerate starts one process per "
            f"{'CPU' if kind == 'cpus' else 'GPU'}"
        )
    config_file = group.get("accelerate_config")
    if config_file is None:
        if processes == 1:
            config_file = "config/accelerate/single.yaml"
        elif group["gpus"] == 0:
            config_file = "config/accelerate/multi_cpu.yaml"
        else:
            config_file = "config/accelerate/fsdp_multi_gpu.yaml"
    if not (_REPO_ROOT / config_file).exists():
        raise ValueError(
            f"config key 'resources.groups.{name}.accelerate_config': "
            f"{config_file} does not exist"
        )
    return {"num_processes": processes, "config_file": config_file}


def job_launcher(name):
    """Command prefix that runs a Python file for the group, for shell: rules."""
    spec = job_accelerate(name)
    if spec["num_processes"] == 1:
        return "python"
    settings = yaml.safe_load((_REPO_ROOT / spec["config_file"]).read_text()) or {}
    # CPU processes must be told to use the CPU (see config/accelerate/multi_cpu.yaml)
    cpu = "ACCELERATE_USE_CPU=true " if settings.get("use_cpu") else ""
    return (
        f"{cpu}accelerate launch --config_file "
        f"{_REPO_ROOT / spec['config_file']} "
        f"--num_processes {spec['num_processes']} --num_machines 1"
    )
