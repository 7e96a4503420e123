"""Every training stage in 2 CPU processes (gloo) through the launcher the GPU groups use.

``alignment_tax.training_common.run_stages`` with ``num_processes: 2`` and
``config/accelerate/multi_cpu.yaml`` starts the processes with ``accelerate launch``; the
same stages also run in one process, from the same inputs and with the same global batch.
The tests check that

* every training rule's script reaches its stage through the one registry
  (``training_common.STAGES``), so no stage can be missing from the multi-process path;
* both processes report world size 2 (MULTI_CPU, gloo): two independent one-process
  trainings, which a plain launch on a machine without GPUs gives, would fail here;
* 2 processes give the same model as 1 process within ``ATOL`` (below), except PPO (see
  ``test_ppo_in_two_processes``);
* only the main process writes: files rank 1 creates are marked (it runs with another
  umask, via a ``sitecustomize`` on its path) and none may appear in the outputs, the work
  folders or the temporary folder, except Trainer's per-rank RNG state in a checkpoint;
* a 2-process SFT killed with SIGKILL (the whole process group) resumes from its Trainer
  checkpoint and ends with the weights of an uninterrupted 2-process run.

The data sizes are multiples of each stage's global batch: for a last, incomplete batch
accelerate pads the rank that has no rows with rows from the start of the epoch
(``even_batches``), which one process does not do.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from alignment_tax.baseline_models import TRAINED_METHODS  # noqa: E402
from alignment_tax.training_common import STAGES, last_checkpoint  # noqa: E402
from test_training import DPO, PPO, RM, RSF, SFT, make_tiny_setup  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TWO_CPU = {"num_processes": 2, "config_file": "config/accelerate/multi_cpu.yaml"}
ONE = {"num_processes": 1, "config_file": "config/accelerate/single.yaml"}

# 2 processes vs 1: the same batches and the same loss normalisation, but each gradient is
# summed in another order (two half-batch sums, then gloo's all-reduce, vs one sum over the
# batch), so float32 rounding differs by ~1e-7 relative per step; Adam divides by sqrt(v),
# which lets rounding in near-zero gradient entries move weights by up to lr per step.
# Measured on the tests' tiny model (2-15 optimizer steps): at most 3e-5 (reward model),
# 2e-6 or less elsewhere, against updates of 4e-3 to 0.1; a batch composed differently
# (e.g. rows of an uneven last batch repeated on one rank) moves weights by ~7e-3.
ATOL = 1e-4

# Global batches that divide each stage's rows: 60 ShareGPT rows; 32 train pairs (40 x 0.8);
# RSF 8 prompts per iteration (pool: 16 rows); PPO warm-up 32 chosen answers.
SFT_MP = dict(SFT, batch_size=12, epochs=3, save_steps=3)
# DPO's and PPO's lr 1e-4 move the weights by less than 10 x ATOL: too little to compare
DPO_MP = dict(DPO, lr=2e-3)
PPO_MP = dict(PPO, lr=2e-3)
BASELINE = dict(
    epochs=1,
    lr=5e-3,
    batch_size=4,
    max_length=128,
    scheduler="constant",
    warmup_ratio=0.0,
    save_steps=1000,
    lora_alpha=32,
    lora_dropout=0.0,
)
BASELINE_VALUES = {
    "l1": 1e-4,
    "l2": 1e-2,
    "distillation": 1.0,
    "lora_mlp": 4,
    "lora_mlp_attn": 4,
    "sma": 0.5,
    "replay": 0.3,  # 16 pool rows + 8 documents: a multiple of the batch (4)
}
RANK1_UMASK = 0o020  # rank 1 creates files o+w but not g+w: a mode no other writer here gives

_SITECUSTOMIZE = f"""
import os
if os.environ.get("MP_TEST_MARK_RANKS") and "RANK" in os.environ:
    os.umask({RANK1_UMASK:#o} if os.environ["RANK"] == "1" else 0o022)
"""

_RUNNER = """
import sys, json, logging, torch
logging.basicConfig(level=logging.INFO)
sys.path.insert(0, {scripts!r})
torch.set_num_threads(1)
from alignment_tax.training_common import run_stages
spec = json.loads({spec!r})
run_stages([(r["stage"], r["kwargs"]) for r in spec["runs"]], spec["accelerate"], root={repo!r})
"""


def _env(tmp: Path) -> dict:
    """Environment of a launch: rank 1 marked by its umask, temporary files and caches in
    ``tmp`` (so that they are checked too), and the 2 threads Snakemake sets for a job of
    2 cores: run_stages must split them, 1 per process."""
    site = tmp / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    for name in ("tmp", "hf_home"):
        (tmp / name).mkdir(exist_ok=True)
    return dict(
        os.environ,
        PYTHONPATH=str(site) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        MP_TEST_MARK_RANKS="1",
        TMPDIR=str(tmp / "tmp"),
        HF_HOME=str(tmp / "hf_home"),
        OMP_NUM_THREADS="2",
        PYTHONUNBUFFERED="1",
    )


def _launch(runs: list[tuple[str, dict]], accelerate: dict, tmp: Path, **popen) -> subprocess.Popen:
    """``run_stages(runs, accelerate)`` in a niced subprocess of its own process group."""
    spec = json.dumps(
        {"runs": [{"stage": s, "kwargs": k} for s, k in runs], "accelerate": accelerate}
    )
    code = _RUNNER.format(scripts=str(REPO / "workflow_scripts"), spec=spec, repo=str(REPO))
    return subprocess.Popen(
        ["nice", "-n", "10", sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(tmp),
        start_new_session=True,
        **popen,
    )


def _run(runs, accelerate, tmp: Path, timeout: int = 900) -> str:
    proc = _launch(runs, accelerate, tmp)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0, out[-5000:]
    return out


def rank1_files(*roots: Path) -> list[str]:
    """Files and folders under ``roots`` created by rank 1 (their mode shows its umask)."""
    found = []
    for root in roots:
        for path in [root, *root.rglob("*")] if root.exists() else []:
            mode = path.lstat().st_mode
            if mode & 0o002 and not mode & 0o020:
                found.append(str(path))
    return found


def _weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(model_dir) / "model.safetensors"))


def max_difference(a: Path, b: Path) -> float:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


def max_update(model: Path, start: Path) -> float:
    """Largest weight change from ``start`` (the scale the tolerance is judged against)."""
    wm, ws = _weights(model), _weights(start)
    return max(float((wm[k].float() - ws[k].float()).abs().max()) for k in wm if k in ws)


# ----------------------------------------------------------------------------- registry


def training_rules() -> dict[str, tuple[str, str | None]]:
    """rule name -> (workflow script, params.stage) of every rule of the train group."""
    rules = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=\s*rule \w+:)", smk.read_text()):
            name = re.match(r"\s*rule (\w+):", block)
            script = re.search(r'script:\s*"\.\./workflow_scripts/(\w+\.py)"', block)
            stage = re.search(r'\n\s+stage="(\w+)",', block)
            if name and script and 'job_resources("train")' in block:
                rules[name.group(1)] = (script.group(1), stage and stage.group(1))
    return rules


def test_every_training_rule_runs_a_registered_stage_through_one_runner():
    rules = training_rules()
    assert {"train_sft", "train_reward_model", "train_rsf", "train_dpo"} <= set(rules)
    assert {"train_ppo_warmup", "train_ppo", "train_baseline"} <= set(rules)
    stages = set()
    for rule, (script, stage) in rules.items():
        if script == "pretrain_base_model.py":
            continue  # the toy world's own pretraining: one process, not a training stage
        assert script == "train_stage.py", f"rule {rule} runs {script}, not the stage runner"
        assert stage in STAGES, f"rule {rule}: params.stage {stage!r} is not in STAGES"
        stages.add(stage)
    assert stages == set(STAGES), f"stages no rule runs: {set(STAGES) - stages}"
    # the runner goes through run_stage (one process or a launch), never a stage function
    tree = ast.parse((REPO / "workflow_scripts" / "train_stage.py").read_text())
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    called = {getattr(node.func, "id", None) for node in calls}
    assert "run_stage" in called
    imported = {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    direct = imported & {name for _, name in STAGES.values()}
    assert not direct, f"train_stage.py imports stage functions {direct}: use run_stage"


def test_a_rule_whose_arguments_do_not_match_its_stage_fails_before_loading():
    from alignment_tax.training_common import stage_arguments

    inputs = {"base_dir": "b", "sharegpt_path": "s"}
    params = {"stage": "sft", "params": {}, "seed": 0, "model_kwargs": {}, "work_dir": "w",
              "accelerate": {}, "code": "x"}
    kwargs = stage_arguments("sft", inputs, params, "out")
    assert kwargs["out_dir"] == "out" and "accelerate" not in kwargs and "code" not in kwargs
    # an input named as before the runner (base, not base_dir): named in the error
    with pytest.raises(TypeError, match="'sft'.*base"):
        stage_arguments("sft", {"base": "b", "sharegpt_path": "s"}, params, "out")


def test_unknown_stage_fails_before_launching(tmp_path):
    from alignment_tax.training_common import run_stages

    with pytest.raises(KeyError, match="unknown training stage 'nope'"):
        run_stages([("sft", {}), ("nope", {})], TWO_CPU, root=REPO)


def test_cpu_config_must_use_the_torch_distributed_launcher(tmp_path):
    from alignment_tax.training_common import launch_uses_cpu

    assert launch_uses_cpu(TWO_CPU, root=REPO)
    assert not launch_uses_cpu({"config_file": "config/accelerate/fsdp_multi_gpu.yaml"}, root=REPO)
    bad = tmp_path / "mpi.yaml"
    bad.write_text("distributed_type: MULTI_CPU\nuse_cpu: true\n")
    with pytest.raises(ValueError, match="single process"):
        launch_uses_cpu({"config_file": str(bad)}, root=REPO)


# ----------------------------------------------------------------------------- stages


def _stage_runs(root: Path, data: Path, base: Path, up: Path, out: Path) -> list[tuple[str, dict]]:
    """(stage, kwargs) of every stage and baseline kind, outputs under ``out``, upstream
    models (SFT, reward model, RSF pool, PPO warm-up) from ``up`` (the 1-process run)."""
    hh = str(data / "hh_rlhf/train.jsonl")
    prompts = str(data / "prompts/rlhf_train.jsonl")

    def where(name):
        return dict(out_dir=str(out / "models" / name), work_dir=str(out / "work" / name))

    runs = [
        (
            "sft",
            dict(
                where("sft"),
                base_dir=str(base),
                sharegpt_path=str(data / "sharegpt.json"),
                params=SFT_MP,
                seed=1,
            ),
        ),
        (
            "reward_model",
            dict(
                where("reward_model"),
                base_dir=str(base),
                hh_train_path=hh,
                hh_test_path=str(data / "hh_rlhf/test.jsonl"),
                params=RM,
                seed=1,
            ),
        ),
        (
            "rsf",
            dict(
                where("rsf"),
                sft_dir=str(up / "models/sft"),
                reward_model_dir=str(up / "models/reward_model"),
                prompts_path=prompts,
                params=RSF,
                seed=1,
            ),
        ),
        (
            "dpo",
            dict(
                where("dpo"),
                sft_dir=str(up / "models/sft"),
                hh_train_path=hh,
                params=DPO_MP,
                beta=0.1,
                heldout_fraction=0.2,
                seed=1,
            ),
        ),
        (
            "ppo_warmup",
            dict(
                where("ppo_warmup"),
                sft_dir=str(up / "models/sft"),
                hh_train_path=hh,
                params=PPO_MP,
                heldout_fraction=0.2,
                seed=1,
            ),
        ),
        (
            "ppo",
            dict(
                where("ppo"),
                warmup_dir=str(up / "models/ppo_warmup"),
                reward_model_dir=str(up / "models/reward_model"),
                prompts_path=prompts,
                params=PPO_MP,
                kl_coef=0.1,
                max_new_tokens=8,
                temperature=1.0,
                seed=1,
            ),
        ),
    ]
    for method in TRAINED_METHODS:
        runs.append(
            (
                "baseline",
                dict(
                    where(f"baseline_{method}"),
                    sft_dir=str(up / "models/sft"),
                    rsf_dir=str(up / "models/rsf"),
                    pretrain_path=str(data / "pretrain.jsonl"),
                    method=method,
                    value=BASELINE_VALUES[method],
                    params=BASELINE,
                    seed=1,
                ),
            )
        )
    return runs


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory):
    """Every stage in 1 process, then in 2 processes from the same inputs (2 launches)."""
    root = tmp_path_factory.mktemp("multiprocess")
    data, base = make_tiny_setup(root)
    one, two = root / "one", root / "two"
    t0 = time.time()
    _run(_stage_runs(root, data, base, one, one), ONE, root / "one_env")
    t1 = time.time()
    log = _run(_stage_runs(root, data, base, one, two), TWO_CPU, root / "two_env")
    t2 = time.time()
    print(f"\n1 process: {t1 - t0:.0f} s, 2 processes: {t2 - t1:.0f} s (all stages)")
    return root, base, one, two, log


def test_two_processes_form_one_world(one_and_two):
    *_, log = one_and_two
    ranks = re.findall(
        r"process (\d) of (\d) \(DistributedType\.(\w+), backend (\w+), torch threads (\d+)\)",
        log,
    )
    # the job's 2 threads (_env) split between the 2 processes
    assert sorted(ranks) == [
        ("0", "2", "MULTI_CPU", "gloo", "1"),
        ("1", "2", "MULTI_CPU", "gloo", "1"),
    ], log[-3000:]


def test_only_the_main_process_writes(one_and_two):
    root, _, _, two, _ = one_and_two
    assert (two / "models").is_dir()
    assert not (two / "work").exists() or not any((two / "work").rglob("*.safetensors"))
    assert rank1_files(two, root / "two_env" / "tmp", root / "two_env" / "hf_home") == []


def test_rank1_marker_sees_rank1_files(tmp_path):
    """The marker itself: a file created by rank 1 of a launch is found, rank 0's is not."""
    script = tmp_path / "touch.py"
    script.write_text(
        "import os, pathlib\n"
        f"pathlib.Path({str(tmp_path)!r}, 'rank' + os.environ['RANK']).write_text('x')\n"
    )
    env = _env(tmp_path / "env")
    env["ACCELERATE_USE_CPU"] = "true"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(REPO / TWO_CPU["config_file"]),
            "--num_processes",
            "2",
            str(script),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    assert rank1_files(tmp_path) == [str(tmp_path / "rank1")]


STAGE_IDS = ["sft", "reward_model", "rsf", "dpo", "ppo_warmup"] + [
    f"baseline_{m}" for m in TRAINED_METHODS
]


@pytest.mark.parametrize("name", STAGE_IDS)
def test_two_processes_match_one(one_and_two, name):
    root, base, one, two, _ = one_and_two
    a, b = one / "models" / name, two / "models" / name
    diff = max_difference(a, b)
    start = base if name in ("sft", "reward_model") else one / "models" / "sft"
    update = max_update(a, start)
    print(f"\n{name}: max |2 proc - 1 proc| = {diff:.2e}, max |update| = {update:.2e}")
    assert update > 10 * ATOL, "the stage barely trained: the comparison would say nothing"
    assert diff <= ATOL, f"{name}: 2 processes differ from 1 by {diff:.2e} > {ATOL}"
    if name == "rsf":
        from alignment_tax.io import read_jsonl

        assert read_jsonl(a / "pool.jsonl") == read_jsonl(b / "pool.jsonl")


def test_ppo_in_two_processes(one_and_two):
    """PPO cannot match one process: TRL's PPOTrainer samples with a per-rank seed
    (seed + 100003 x rank), whitens the advantages over each rank's half of the batch and
    draws each rank's mini-batches from its own permutation. What must hold: the same
    global batch (the same episodes counted per update), the same number of updates and
    segments, and a policy that trained."""
    _, _, one, two, _ = one_and_two
    m1 = json.loads((one / "models/ppo/ppo_metrics.json").read_text())
    m2 = json.loads((two / "models/ppo/ppo_metrics.json").read_text())
    diff = max_difference(one / "models/ppo", two / "models/ppo")
    update = max_update(two / "models/ppo", one / "models/ppo_warmup")
    print(f"\nppo: max |2 proc - 1 proc| = {diff:.2e}, max |update| = {update:.2e}")
    assert (m2["updates"], m2["segments"]) == (m1["updates"], m1["segments"])
    assert [r["episode"] for r in m2["log"] if "episode" in r] == [
        r["episode"] for r in m1["log"] if "episode" in r
    ]
    assert update > 10 * ATOL


def test_two_process_sft_resumes_after_sigkill(one_and_two, tmp_path):
    """SIGKILL the whole 2-process launch once a Trainer checkpoint is complete: the work
    folder holds nothing of rank 1 but its RNG state (Trainer's, for the resume), and the
    rerun resumes from the checkpoint and ends with the uninterrupted 2-process weights."""
    root, base, _, two, _ = one_and_two
    data = root / "data"
    out, work = tmp_path / "out", tmp_path / "work"
    run = (
        "sft",
        dict(
            out_dir=str(out),
            work_dir=str(work),
            base_dir=str(base),
            sharegpt_path=str(data / "sharegpt.json"),
            params=SFT_MP,
            seed=1,
        ),
    )
    ckpts = work / "sharegpt" / "checkpoints"

    def has_checkpoint():
        return ckpts.is_dir() and any(
            (c / "trainer_state.json").exists() for c in ckpts.glob("checkpoint-*")
        )

    proc = _launch([run], TWO_CPU, tmp_path / "env")
    deadline = time.time() + 300
    while not has_checkpoint():
        if proc.poll() is not None:
            raise AssertionError(
                "the job ended before it could be killed:\n" + proc.stdout.read()[-3000:]
            )
        assert time.time() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    psutil = pytest.importorskip("psutil")
    ranks = [p for p in psutil.Process(proc.pid).children(recursive=True) if "RANK" in p.environ()]
    assert len(ranks) == 2, ranks
    # the job's process group: nice, python, accelerate's launcher with torch.distributed's
    # agent; the ranks run in sessions of their own and must die with the launcher
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(ranks, timeout=20)
    assert not alive, f"ranks outlived their killed launcher: {alive}"
    assert not out.exists(), "a killed job leaves no output"
    resumed_from = last_checkpoint(ckpts)
    assert resumed_from is not None
    # Trainer saves each rank's RNG state (rng_state_<rank>.pth) into the checkpoint, and
    # every rank creates the checkpoint folder if it is not there yet
    rank1 = rank1_files(work, tmp_path / "env" / "tmp")
    assert any(Path(f).name == "rng_state_1.pth" for f in rank1), rank1
    assert all(
        Path(f).name == "rng_state_1.pth" or re.fullmatch(r"checkpoint-\d+", Path(f).name)
        for f in rank1
    ), rank1
    log = _run([run], TWO_CPU, tmp_path / "env")
    assert f"resumes from {resumed_from}" in log
    diff = max_difference(out, two / "models" / "sft")
    print(f"\nresumed 2-process SFT vs uninterrupted: max difference {diff:.2e}")
    assert diff <= 1e-6


def test_cpu_group_needs_a_cpu_per_process(tmp_path):
    """A CPU training group (gpus: 0) gets multi_cpu.yaml; more processes than cpus is an
    error naming the key, at load (rules/resources.smk job_accelerate)."""
    import yaml
    from conftest import load_config, run_snakemake

    config = load_config("config")
    config["resources"]["groups"]["train"].update(gpus=0, cpus=1, processes=2)
    config_file = tmp_path / "cpu.yaml"
    config_file.write_text(yaml.safe_dump(config))
    result = run_snakemake("-n", "--configfile", str(config_file))
    assert result.returncode != 0
    assert "resources.groups.train.processes' (2) exceeds its cpus (1)" in (
        result.stdout + result.stderr
    )


def test_cpu_threads_are_split_between_the_processes():
    from alignment_tax.training_common import cpu_threads_per_process

    assert cpu_threads_per_process({"OMP_NUM_THREADS": "2"}, 2)["OMP_NUM_THREADS"] == "1"
    assert cpu_threads_per_process({"OMP_NUM_THREADS": "8"}, 2) == {
        "OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "4"}
    # never 0 threads, even with more processes than the job's cores
    assert cpu_threads_per_process({"OMP_NUM_THREADS": "1"}, 2)["OMP_NUM_THREADS"] == "1"
