"""The SLURM profile (slurm/config.yaml) against a real SLURM scheduler.

The `slurm`-marked test starts a one-node SLURM 22.05 cluster from Debian's packages
(.ci/slurm/start.sh: munged, MariaDB, slurmdbd, slurmctld, slurmd, one fake GPU), runs a
slice of a workflow through `snakemake --profile slurm`, and checks with sacct that every
job of the run went through SLURM and that the GPU rules, and only they, asked for a GPU.
The cluster's daemons are stopped by PID afterwards (.ci/slurm/stop.sh).

Where it runs: with CI=true, or with SLURM_TEST=1 on a developer machine (it takes one to
three minutes; elsewhere it is skipped). It needs root and the packages, which it installs
(.ci/slurm/install.sh) when CI=true. With CI=true a cluster that cannot start fails the
test; on a developer machine missing packages, missing root or a test cluster already
running skip it. SLURM_TEST_STATE=<dir> reuses a cluster that `.ci/slurm/start.sh <dir>`
already started (it is then left running).

The dry-run tests need no SLURM: the profile must work for every configuration on a
machine without any SLURM program.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import require_gguf_of

REPO = Path(__file__).resolve().parents[1]
CI_SLURM = REPO / ".ci" / "slurm"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
CONFIGS = sorted(p.name for p in (REPO / "config").glob("*.yaml"))
# The workflow's final target; every configuration must dry-run it through the profile.
FINAL_TARGET = "all_figures"


@dataclass(frozen=True)
class Slice:
    """A part of a workflow to run through the profile on the test cluster."""

    snakefile: str  # relative to the repository root
    targets: tuple[str, ...]
    outputs: tuple[str, ...]  # files the run must produce, relative to its workdir
    gpu_rules: frozenset[str]  # rules whose jobs must request a GPU; the others must not
    local_rules: frozenset[str] = frozenset({"all"})  # rules allowed to run outside SLURM
    extra_args: tuple[str, ...] = ()  # e.g. ("--configfile", ".../config.yaml", "--config", ...)
    timeout_s: int = 240
    extra_checks: tuple = field(default=())  # callables (workdir: Path) -> None


def _fixture_gpu_seen(workdir: Path) -> None:
    import json

    gpu = json.loads((workdir / "out" / "gpu.json").read_text())
    assert gpu["SLURM_JOB_ID"], "the GPU rule did not run inside a SLURM job"
    assert gpu["data"].startswith("job=") and gpu["data"] != "job=none", gpu
    assert gpu["CUDA_VISIBLE_DEVICES"] == "0", f"no GPU was bound to the GPU job: {gpu}"


SLICES = [
    pytest.param(
        Slice(
            snakefile="tests/slurm_fixture/Snakefile",
            targets=("all",),
            outputs=("out/data.txt", "out/gpu.json"),
            gpu_rules=frozenset({"use_gpu"}),
            extra_checks=(_fixture_gpu_seen,),
        ),
        id="fixture",
    ),
    # The toy workflow's first stage, shrunk: two CPU rules, then the GPU-group pretraining.
    pytest.param(
        Slice(
            snakefile="Snakefile",
            targets=("results/slurm_ci/models/base",),
            outputs=("results/slurm_ci/models/base/config.json",),
            gpu_rules=frozenset({"pretrain_base_model"}),
            local_rules=frozenset(),
            extra_args=(
                "--configfile",
                str(REPO / "config" / "config.yaml"),
                str(REPO / "tests" / "slurm_fixture" / "toy_small.yaml"),
            ),
        ),
        id="toy_world",
    ),
]


# --- the test cluster -------------------------------------------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str):
    """Fail in CI (the cluster test must run there), skip elsewhere."""
    if _in_ci():
        pytest.fail(f"SLURM test cluster unavailable in CI: {reason}")
    pytest.skip(f"SLURM test cluster unavailable: {reason}")


def _read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"export (\w+)=(.*)", line.strip())
        if match:
            env[match.group(1)] = match.group(2)
    return env


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """Environment variables (SLURM_CONF, SLURM_PARTITION, ...) of a running test cluster."""
    if not _in_ci() and os.environ.get("SLURM_TEST") != "1":
        pytest.skip("SLURM cluster test runs with CI=true or SLURM_TEST=1 (1-3 minutes)")
    reuse = os.environ.get("SLURM_TEST_STATE")
    if reuse:
        env_file = Path(reuse) / "env.sh"
        if not env_file.exists():
            _unavailable(f"SLURM_TEST_STATE={reuse} has no env.sh")
        yield {**_read_env_file(env_file), "SLURM_GPU_MODEL": "fake"}
        return

    if os.geteuid() != 0:
        _unavailable("the test cluster's daemons run as root")
    if shutil.which("slurmctld") is None or shutil.which("mariadbd") is None:
        if not _in_ci():
            _unavailable("SLURM packages missing (install with .ci/slurm/install.sh)")
        install = subprocess.run(
            ["bash", str(CI_SLURM / "install.sh")], capture_output=True, text=True, timeout=900
        )
        if install.returncode != 0:
            _unavailable(f"install.sh failed:\n{install.stdout[-3000:]}\n{install.stderr[-3000:]}")

    state = tmp_path_factory.mktemp("slurm-state")
    start = subprocess.run(
        ["bash", str(CI_SLURM / "start.sh"), str(state)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    try:
        if start.returncode == 3:
            _unavailable(f"another test cluster is running: {start.stderr.strip()}")
        if start.returncode != 0:
            # A cluster that does not come up on a prepared machine is a real failure.
            pytest.fail(f"start.sh failed:\n{start.stdout[-3000:]}\n{start.stderr[-5000:]}")
        env = _read_env_file(state / "env.sh")
        # The fake GPU's GRES type; also exercises the gpu_model path of the workflow.
        env["SLURM_GPU_MODEL"] = "fake"
        yield env
    finally:
        subprocess.run(["bash", str(CI_SLURM / "stop.sh"), str(state)], timeout=120)


# --- helpers ----------------------------------------------------------------------------


def _sacct_rows(env: dict[str, str], run_id: str) -> list[dict[str, str]]:
    fields = ["JobID", "State", "Comment", "ReqTRES", "AllocTRES", "Partition", "Account"]
    out = subprocess.run(
        ["sacct", "-X", "-P", "-n", "--name", run_id, "-o", ",".join(fields)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines() if line]


def _rule_of(comment: str) -> str:
    """The rule name from the executor's --comment 'rule_<name>[_wildcards_<...>]'."""
    assert comment.startswith("rule_"), f"unexpected job comment {comment!r}"
    return comment[len("rule_") :].split("_wildcards_")[0]


# --- tests ------------------------------------------------------------------------------


@pytest.mark.slurm
@pytest.mark.parametrize("part", SLICES)
def test_slice_runs_through_slurm(part: Slice, slurm_cluster, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {**os.environ, **slurm_cluster}
    # Keep the run's SLURM logs out of the repository's logs/.
    cmd = [
        "timeout", "-k", "15", str(part.timeout_s),
        # Targets first: options such as --configfile take several values.
        str(SNAKEMAKE), *part.targets, "--profile", "slurm",
        "--snakefile", str(REPO / part.snakefile), "--directory", str(workdir),
        "--slurm-logdir", str(workdir / "logs" / "slurm"),
        "--slurm-init-seconds-before-status-checks", "2",
        "--seconds-between-status-checks", "1",
        *part.extra_args,
    ]  # fmt: skip
    started = time.monotonic()
    run = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    log = run.stdout + run.stderr
    assert run.returncode == 0, (
        f"snakemake failed ({run.returncode}) after {elapsed:.0f}s:\n{log[-8000:]}"
    )

    for output in part.outputs:
        assert (workdir / output).exists(), f"{output} missing after the run"

    # Which jobs the run finished, by rule, and which of them ran on the submit host.
    finished = Counter(re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", log))
    local = Counter(re.findall(r"^localrule (\w+):", log, flags=re.M))
    assert finished, f"no finished job in the log:\n{log[-4000:]}"
    stray = set(local) - part.local_rules
    assert not stray, f"jobs of {sorted(stray)} ran locally instead of through SLURM"
    remote = finished - Counter({rule: local[rule] for rule in local})
    assert remote, "no job was submitted to SLURM"

    run_id = re.search(r"SLURM run ID: (\S+)", log)
    assert run_id, "no 'SLURM run ID' in the log: the SLURM executor did not run"
    # slurmdbd records job ends asynchronously; give it a few seconds.
    for _ in range(30):
        rows = _sacct_rows(slurm_cluster, run_id.group(1))
        completed = Counter(_rule_of(r["Comment"]) for r in rows if r["State"] == "COMPLETED")
        if completed == remote:
            break
        time.sleep(1)
    assert completed == remote, (
        f"jobs finished by Snakemake {dict(remote)} != jobs COMPLETED in sacct "
        f"{dict(completed)}; sacct rows: {rows}"
    )

    for row in rows:
        rule = _rule_of(row["Comment"])
        assert row["Partition"] == slurm_cluster["SLURM_PARTITION"], row
        assert row["Account"] == slurm_cluster["SLURM_ACCOUNT"], row
        for tres in ("ReqTRES", "AllocTRES"):
            has_gpu = "gres/gpu" in row[tres]
            if rule in part.gpu_rules:
                assert has_gpu, f"GPU rule {rule} ran without a GPU ({tres}): {row}"
            else:
                assert not has_gpu, f"CPU rule {rule} asked for a GPU ({tres}): {row}"
    assert part.gpu_rules & set(remote), f"no job of the GPU rules {set(part.gpu_rules)} ran"

    for check in part.extra_checks:
        check(workdir)
    print(f"slice ran through SLURM in {elapsed:.0f}s: {dict(remote)}")


def _path_without_slurm(tmp_path: Path) -> str:
    """A PATH that holds the venv and basic tools but no SLURM program."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = ("sh", "bash", "env", "uname", "git", "python3", "which", "cat", "ls", "mkdir", "rm")
    for tool in tools:
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    return f"{SNAKEMAKE.parent}:{bin_dir}"


def _final_target() -> list[str]:
    """all_figures once the workflow defines it; until then the default target."""
    sources = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
    defined = any(re.search(rf"^rule {FINAL_TARGET}:", p.read_text(), flags=re.M) for p in sources)
    return [FINAL_TARGET] if defined else []


@pytest.mark.parametrize("configfile", CONFIGS)
def test_profile_dry_run_without_slurm(configfile, tmp_path):
    """`snakemake --profile slurm -n all_figures` from the repo root, no SLURM anywhere."""
    require_gguf_of(REPO / "config" / configfile)
    env = {
        **os.environ,
        "PATH": _path_without_slurm(tmp_path),
        "SLURM_CONF": str(tmp_path / "no-slurm.conf"),
        "SLURM_PARTITION": "gpu_partition",
        "SLURM_ACCOUNT": "some_account",
    }
    run = subprocess.run(
        [str(SNAKEMAKE), *_final_target(), "--profile", "slurm", "-n",
         "--configfile", f"config/{configfile}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-6000:]
    assert "Using profile slurm" in log
    # Partition and account reach every job from the environment.
    for line in re.findall(r"^\s+resources: (.*)$", log, flags=re.M):
        assert "slurm_partition=gpu_partition" in line and "slurm_account=some_account" in line


def test_profile_reads_site_file(tmp_path):
    """Without environment variables the profile takes partition/account from site.yaml."""
    import yte

    site = tmp_path / "slurm" / "site.yaml"
    site.parent.mkdir()
    site.write_text("partition: p_site\naccount: a_site\n")
    env_backup = {
        k: os.environ.pop(k) for k in ("SLURM_PARTITION", "SLURM_ACCOUNT") if k in os.environ
    }
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        with open(REPO / "slurm" / "config.yaml") as profile:
            parsed = yte.process_yaml(profile, require_use_yte=True)
        os.environ["SLURM_PARTITION"] = "p_env"
        with open(REPO / "slurm" / "config.yaml") as profile:
            parsed_env = yte.process_yaml(profile, require_use_yte=True)
    finally:
        os.chdir(cwd)
        os.environ.pop("SLURM_PARTITION", None)
        os.environ.update(env_backup)
    assert parsed["default-resources"]["slurm_partition"] == "p_site"
    assert parsed["default-resources"]["slurm_account"] == "a_site"
    assert parsed_env["default-resources"]["slurm_partition"] == "p_env"
    assert parsed["executor"] == "slurm"
    # No GPU by default: only the GPU groups of rules/resources.smk ask for one.
    assert not {"gpu", "gpu_model", "gres"} & set(parsed["default-resources"])


@pytest.mark.parametrize("name", ["single", "fsdp_multi_gpu", "deepspeed_zero3"])
def test_accelerate_configs_load(name):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(REPO / "config" / "accelerate" / f"{name}.yaml"))
    assert cfg.num_machines == 1
    assert cfg.mixed_precision == "bf16"


def test_gpu_request_only_on_gpu_rules(tmp_path):
    """Dry run of the fixture: the GPU rule gets gpu and gpu_model, the CPU rule neither."""
    env = {**os.environ, "PATH": _path_without_slurm(tmp_path), "SLURM_GPU_MODEL": "a100"}
    run = subprocess.run(
        [str(SNAKEMAKE), "--profile", "slurm", "-n", "-s", "tests/slurm_fixture/Snakefile",
         "-d", str(tmp_path / "work")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    resources = dict(
        re.findall(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", run.stdout, flags=re.M)
    )
    assert "gpu=1" in resources["use_gpu"] and "gpu_model=a100" in resources["use_gpu"]
    assert "gpu" not in resources["make_data"].replace("tmpdir", "")


def test_multi_gpu_training_is_one_task_holding_all_gpus(tmp_path):
    """Paper config: train_sft becomes one sbatch job, one task, 8 GPUs of the site's model.

    Inside it `accelerate launch` starts one process per GPU (processes == gpus).
    """
    import yaml
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    env = {**os.environ, "PATH": _path_without_slurm(tmp_path), "SLURM_GPU_MODEL": "a100"}
    run = subprocess.run(
        [str(SNAKEMAKE), *_final_target(), "--profile", "slurm", "-n",
         "--configfile", "config/paper.yaml"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    block = re.search(r"^rule train_sft:\n((?:    .*\n)+)", run.stdout, flags=re.M)
    assert block, "train_sft is not in the paper configuration's DAG"
    line = re.search(r"resources: (.*)", block.group(1)).group(1)
    raw = dict(kv.split("=", 1) for kv in line.split(", "))
    resources = {k: int(raw[k]) if raw[k].isdigit() else raw[k] for k in raw}
    assert resources["gpu"] == 8 and resources["gpu_model"] == "a100"
    groups = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["resources"]["groups"]
    assert groups["train"]["processes"] == groups["train"]["gpus"] == 8
    threads = groups["train"]["cpus"]  # job_threads("train")

    class Resources(dict):
        __getattr__ = dict.__getitem__

    job = SimpleNamespace(resources=Resources(resources), threads=threads, name="train_sft")
    params = dict(
        run_uuid="x", slurm_logfile="log", comment_str="rule_train_sft", account="", partition="",
        workdir=str(REPO),
    )  # fmt: skip
    call = get_submit_command(job, params) + set_gres_string(job)
    assert "--gpus=a100:8" in call
    assert f"--cpus-per-task={threads}" in call
    assert "--ntasks" not in call  # one task; accelerate, not srun, starts the 8 processes
    assert f"--mem {resources['mem_mb']}" in call
