"""Shared pieces of the training stages (SFT, reward model, RSF, DPO, PPO).

Data in the contract's formats (docs/CONTRACTS.md) becomes TRL datasets here; model and
tokenizer loading, TrainingArguments shared by every TRL trainer, and the resume logic live
here too.

Resume design: every job keeps its resumable state in a *work* folder that is not a
Snakemake output (Snakemake deletes a job's outputs before it reruns it). A stage is a
sequence of *phases*; a finished phase saves its model atomically to ``<work>/<phase>/final``
and is skipped on a rerun; an unfinished one resumes from its last complete Trainer
checkpoint (``resume_from_checkpoint``). The job's declared outputs are written last, each
through ``atomic_dir``, and the work folder is removed once they are in place.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from alignment_tax import loading
from alignment_tax.io import atomic_dir, read_jsonl
from alignment_tax.loading import load_tokenizer  # noqa: F401  (the stages import it here)
from alignment_tax.rule_io import seed_everything

logger = logging.getLogger(__name__)

ASSISTANT_TAG = "\n\nAssistant:"
HUMAN_TAG = "\n\nHuman:"


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------


def _require_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: file {str(path)!r} does not exist")
    return path


def split_hh(text: str) -> tuple[str, str]:
    """Split an HH-RLHF transcript at its last assistant turn: (prompt ending in
    ``"\\n\\nAssistant:"``, response starting with its leading space)."""
    cut = text.rfind(ASSISTANT_TAG)
    if cut < 0:
        raise ValueError(f"HH-RLHF text without an '\\n\\nAssistant:' turn: {text[:80]!r}")
    cut += len(ASSISTANT_TAG)
    return text[:cut], text[cut:]


def read_preference_pairs(path: str | os.PathLike) -> list[dict]:
    """HH-RLHF jsonl -> rows ``{"prompt", "chosen", "rejected"}`` (explicit-prompt format that
    TRL's DPOTrainer and RewardTrainer both accept; the shared prompt is split off once)."""
    rows = read_jsonl(_require_file(path, "HH-RLHF pairs"), required=("chosen", "rejected"))
    pairs = []
    for i, row in enumerate(rows):
        prompt, chosen = split_hh(row["chosen"])
        prompt_r, rejected = split_hh(row["rejected"])
        if prompt_r != prompt:
            # different histories: keep the pair whole (implicit prompt) is not possible in
            # the explicit format, so fall back to the common prefix up to the last tag
            logger.warning("%s: row %d has different prompts for chosen/rejected; skipped", path, i)
            continue
        pairs.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    if not pairs:
        raise ValueError(f"{path}: no usable preference pairs")
    return pairs


def split_heldout(rows: list, fraction: float, seed: int) -> tuple[list, list]:
    """Deterministic (train, held-out) split; the RM and DPO share it (DPO selects its
    checkpoint on the reward-modelling validation set, appendix D.3)."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_held = max(1, int(round(len(rows) * fraction)))
    held = set(order[:n_held])
    return [r for i, r in enumerate(rows) if i not in held], [
        r for i, r in enumerate(rows) if i in held
    ]


def sharegpt_to_prompt_completion(path: str | os.PathLike) -> list[dict]:
    """ShareGPT json -> one ``{"prompt", "completion"}`` row per assistant turn, the prompt
    being the whole preceding conversation in the HH-RLHF layout. Loss on completions only
    (TRL's completion_only_loss), EOS appended by SFTTrainer."""
    text = _require_file(path, "ShareGPT").read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: not a JSON list of ShareGPT conversations")
    rows = []
    for i, conv in enumerate(data):
        history = ""
        if not isinstance(conv, dict) or not isinstance(conv.get("conversations"), list):
            raise ValueError(f"{path}: conversation {i} (0-based) has no 'conversations' list")
        for turn in conv["conversations"]:
            if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
                raise ValueError(f"{path}: conversation {i} (0-based) has a turn without "
                                 f"'from' and 'value': {turn!r:.80}")
            speaker, value = turn["from"], turn["value"]
            if speaker in ("human", "user"):
                history += f"{HUMAN_TAG} {value}"
            elif speaker in ("gpt", "assistant", "chatgpt", "bard"):
                if history:
                    rows.append({"prompt": history + ASSISTANT_TAG, "completion": f" {value}"})
                history += f"{ASSISTANT_TAG} {value}"
            # system and other roles are not part of the HH layout; skipped
    if not rows:
        raise ValueError(f"{path}: no human->assistant turns found in the ShareGPT file")
    return rows


def chosen_as_sft(pairs: list[dict]) -> list[dict]:
    """Preferred answers of preference pairs as SFT rows (RM SFT, PPO warm-up)."""
    return [{"prompt": p["prompt"], "completion": p["chosen"]} for p in pairs]


def read_prompts(path: str | os.PathLike) -> list[dict]:
    rows = read_jsonl(_require_file(path, "prompts"), required=("prompt",))
    if not rows:
        raise ValueError(f"{path}: no prompts")
    return rows


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------


def torch_dtype(name: str | None):
    import torch

    if name in (None, "auto"):
        return None
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def stage_loading(model_dir: str | os.PathLike, model_kwargs: dict) -> tuple[Any, dict]:
    """(tokenizer of ``model_dir``, keyword arguments for load_causal_lm) of a stage,
    from the config's model options (``use_fast``, ``dtype``, ``trust_remote_code``)."""
    load = dict(
        dtype=model_kwargs.get("dtype"),
        trust_remote_code=model_kwargs.get("trust_remote_code", False),
    )
    tokenizer = load_tokenizer(
        model_dir,
        use_fast=model_kwargs.get("use_fast", True),
        trust_remote_code=load["trust_remote_code"],
    )
    return tokenizer, load


def require_keys(params: dict, section: str, keys: Sequence[str]) -> None:
    """Fail with the config key at fault when a stage's params lack one of ``keys``."""
    for key in keys:
        if key not in params:
            raise KeyError(f"{section}: missing key {key!r}")


def load_causal_lm(path, *, dtype: str | None = None, trust_remote_code: bool = False):
    """A causal LM from safetensors only (alignment_tax.loading)."""
    return loading.load_causal_lm(
        path, dtype=torch_dtype(dtype), trust_remote_code=trust_remote_code
    )


def load_reward_model(
    path, *, dtype: str | None = None, trust_remote_code: bool = False, pad_token_id=None
):
    model = loading.load_sequence_classifier(
        path, num_labels=1, dtype=torch_dtype(dtype), trust_remote_code=trust_remote_code
    )
    if pad_token_id is not None:
        # the classifier reads the last non-pad token: it must know the pad id
        model.config.pad_token_id = pad_token_id
    return model


def save_model(
    model, tokenizer, out_dir: str | os.PathLike, extra_json: dict[str, Any] | None = None
) -> None:
    """save_pretrained (safetensors) + tokenizer into ``out_dir``, atomically."""
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        for name, obj in (extra_json or {}).items():
            (tmp / name).write_text(
                json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )


def link_tree(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy a folder by hard links where the file system allows (checkpoints of a 3B model
    are large; the work folder is deleted right after), else by copying."""

    def _link(s, d):
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=_link)


# --------------------------------------------------------------------------------------
# Trainer arguments and resume
# --------------------------------------------------------------------------------------


def distributed_state():
    """accelerate's process state of this job. Under a CPU launch (run_stage sets
    ACCELERATE_USE_CPU) it must be asked for the CPU: a plain ``PartialState()`` on a machine
    without GPUs reports one process per rank (DistributedType.NO), i.e. independent runs."""
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))


def world_size() -> int:
    return distributed_state().num_processes


def split_batch(batch_size: int, micro_batch_size: int | None, processes: int) -> tuple[int, int]:
    """(per-process batch, gradient accumulation) whose product x ``processes`` is the
    global ``batch_size``; a ValueError when no such split exists. Torch-free: the config
    check (config_checks.check_batch_layouts) runs it at parse time for every stage."""
    micro = micro_batch_size or max(1, batch_size // processes)
    micro = min(micro, max(1, batch_size // processes))
    accum = batch_size // (micro * processes)
    if accum < 1 or micro * processes * accum != batch_size:
        raise ValueError(
            f"batch_size {batch_size} is not a multiple of "
            f"micro_batch_size {micro} x {processes} processes"
        )
    return micro, accum


def batch_layout(batch_size: int, micro_batch_size: int | None) -> tuple[int, int]:
    """(per-device batch, gradient accumulation) so that their product x processes is the
    configured global batch size."""
    return split_batch(batch_size, micro_batch_size, world_size())


def trainer_kwargs(
    params: dict, *, output_dir, seed: int, lr: float, epochs: float, batch_size: int
) -> dict:
    """Keyword arguments shared by SFTConfig, RewardConfig and DPOConfig.

    ``params`` is a stage's config section; optional keys: micro_batch_size, warmup_ratio,
    scheduler, save_steps, bf16, gradient_checkpointing, logging_steps.
    """
    micro, accum = batch_layout(batch_size, params.get("micro_batch_size"))
    return dict(
        output_dir=str(output_dir),
        learning_rate=lr,
        num_train_epochs=epochs,
        per_device_train_batch_size=micro,
        per_device_eval_batch_size=micro,
        gradient_accumulation_steps=accum,
        # transformers 5: a float in [0, 1) is a ratio of the total steps
        warmup_steps=float(params.get("warmup_ratio", 0.0)),
        lr_scheduler_type=params.get("scheduler", "cosine"),
        save_strategy="steps",
        save_steps=params.get("save_steps", 50),
        save_total_limit=2,
        logging_steps=params.get("logging_steps", 10),
        report_to="none",
        seed=seed,
        data_seed=seed,
        bf16=bool(params.get("bf16", False)),
        gradient_checkpointing=bool(params.get("gradient_checkpointing", False)),
        dataloader_num_workers=0,
        disable_tqdm=True,
        # every trained parameter takes part in each forward pass of these stages (LoRA's
        # frozen weights do not count): Trainer's default (True without gradient
        # checkpointing) costs DDP a search of the autograd graph at every step
        ddp_find_unused_parameters=False,
    )


def last_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """Newest *complete* Trainer checkpoint in ``output_dir``. Trainer writes checkpoints in
    place, so a kill can leave a half-written one: a checkpoint counts only once its
    trainer_state.json (written after weights and optimizer) is there."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    ckpts = []
    for child in output_dir.iterdir():
        if child.is_dir() and child.name.startswith("checkpoint-"):
            step = child.name.split("-", 1)[1]
            if step.isdigit():
                ckpts.append((int(step), child))
    for _, child in sorted(ckpts, reverse=True):
        if (child / "trainer_state.json").is_file() and any(child.glob("*.safetensors")):
            return str(child)
        logger.warning("incomplete checkpoint %s removed", child)
        shutil.rmtree(child, ignore_errors=True)
    return None


def no_checkpoint_at_the_end():
    """A Trainer callback that drops the checkpoint Trainer saves after the last step.

    transformers saves a full checkpoint (weights, optimizer state: three times the model's
    size) when training ends, whatever ``save_steps`` says; run_phase saves the final model
    right after, so that checkpoint is written and never read. Checkpoints every
    ``save_steps`` (what a killed run resumes from) are kept.
    """
    from transformers import TrainerCallback

    class NoCheckpointAtTheEnd(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            periodic = state.save_steps > 0 and state.global_step % state.save_steps == 0
            # with load_best_model_at_end (DPO) the last step's checkpoint may be the best
            # one that Trainer loads back: keep it
            if control.should_training_stop and not periodic and not args.load_best_model_at_end:
                control.should_save = False
            return control

    return NoCheckpointAtTheEnd()


def run_phase(
    work_dir: str | os.PathLike,
    name: str,
    build_trainer: Callable[[str], Any],
    tokenizer,
) -> Path:
    """Train one phase with resume; return the folder of its final model.

    ``build_trainer(output_dir)`` returns a ready TRL trainer writing checkpoints into
    ``output_dir``. A finished phase (``<work>/<name>/final``) is not retrained.
    """
    phase_dir = Path(work_dir) / name
    final = phase_dir / "final"
    if (final / "config.json").is_file():
        logger.info("phase %s already done: %s", name, final)
        return final
    ckpt_dir = phase_dir / "checkpoints"
    trainer = build_trainer(str(ckpt_dir))
    trainer.add_callback(no_checkpoint_at_the_end())
    resume = last_checkpoint(ckpt_dir)
    if resume:
        logger.info("phase %s resumes from %s", name, resume)
    trainer.train(resume_from_checkpoint=resume)
    if trainer.accelerator.is_main_process:
        model = trainer.accelerator.unwrap_model(trainer.model)
        save_model(
            model, tokenizer, final, extra_json={"train_log.json": trainer.state.log_history}
        )
    trainer.accelerator.wait_for_everyone()
    return final


def input_stamp(*paths) -> list:
    """Modification times of input files / model folders, so that a work folder left by a
    killed run is not resumed after its inputs were rebuilt."""
    stamps = []
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        probe = path / "config.json" if path.is_dir() else path
        stamps.append([str(path), probe.stat().st_mtime_ns if probe.exists() else None])
    return stamps


def prepare_work_dir(work_dir: str | os.PathLike, settings: dict) -> Path:
    """Create the work folder, or keep it for resuming only if it was made with the same
    settings (a stale state from a run with other parameters would otherwise be resumed)."""
    work_dir = Path(work_dir)
    stamp = work_dir / "settings.json"
    text = json.dumps(settings, sort_keys=True, default=str)
    if is_main_process():
        if work_dir.exists() and (not stamp.is_file() or stamp.read_text(encoding="utf-8") != text):
            logger.warning("work folder %s holds another run's state; starting afresh", work_dir)
            shutil.rmtree(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        if not stamp.is_file():
            stamp.write_text(text, encoding="utf-8")
    wait_for_everyone()
    return work_dir


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    return max(1, math.ceil(n_rows / batch_size))


def set_seed(seed: int) -> None:
    seed_everything(seed)


def is_main_process() -> bool:
    return distributed_state().is_main_process


def wait_for_everyone() -> None:
    distributed_state().wait_for_everyone()


def remove_work_dir(work_dir: str | os.PathLike) -> None:
    if is_main_process():
        shutil.rmtree(work_dir, ignore_errors=True)


# --------------------------------------------------------------------------------------
# Launching: in-process for one process, `accelerate launch` for several (GPUs or CPU)
# --------------------------------------------------------------------------------------

# The one registry of training stages: every training rule script calls run_stage with one
# of these names, whether the job runs in one process or under `accelerate launch`
# (tests/test_multiprocess_training.py checks every training script against it).
STAGES = {
    "sft": ("alignment_tax.sft", "train_sft"),
    "reward_model": ("alignment_tax.reward_model", "train_reward_model"),
    "rsf": ("alignment_tax.rsf", "train_rsf"),
    "dpo": ("alignment_tax.dpo", "train_dpo"),
    "ppo_warmup": ("alignment_tax.ppo", "train_ppo_warmup"),
    "ppo": ("alignment_tax.ppo", "train_ppo"),
    "baseline": ("alignment_tax.baselines", "train_baseline"),
}


def stage_function(stage: str) -> Callable[..., Any]:
    """The library function of a training stage (a KeyError names an unknown stage)."""
    import importlib

    if stage not in STAGES:
        raise KeyError(f"unknown training stage {stage!r} (known: {sorted(STAGES)})")
    module, name = STAGES[stage]
    return getattr(importlib.import_module(module), name)


# Params of a training rule that steer the runner (train_stage.py), not the stage function
RUNNER_PARAMS = ("stage", "accelerate", "code")


def stage_arguments(stage: str, inputs: dict, params: dict, out_dir: str) -> dict:
    """Keyword arguments of a stage's function from its rule: the named inputs, the params
    other than RUNNER_PARAMS, and ``out_dir``; checked against the function's signature,
    so a rule that misses or misnames an argument fails before any model is loaded."""
    import inspect

    kwargs = {**inputs, **{k: v for k, v in params.items() if k not in RUNNER_PARAMS}}
    kwargs["out_dir"] = out_dir
    try:
        inspect.signature(stage_function(stage)).bind(**kwargs)
    except TypeError as err:
        raise TypeError(
            f"training stage {stage!r}: the rule's named inputs and params {sorted(kwargs)} "
            f"do not match {STAGES[stage][0]}.{STAGES[stage][1]}: {err}"
        ) from None
    return kwargs


def launch_uses_cpu(accelerate: dict, *, root: str | os.PathLike = ".") -> bool:
    """Whether the accelerate config file of a launch asks for CPU processes (``use_cpu``).

    accelerate 1.15 starts several CPU processes only through its multi-GPU launcher
    (torch.distributed.run; ``distributed_type: MULTI_CPU`` means mpirun and starts one
    process here), and that launcher does not pass ``use_cpu`` on: the processes must be
    told (ACCELERATE_USE_CPU, read by Trainer and by ``distributed_state``), or each one
    sees no GPU, reports one process (DistributedType.NO) and trains alone.
    """
    import yaml

    config_file = Path(root) / accelerate["config_file"]
    if not config_file.is_file():
        raise FileNotFoundError(f"accelerate config {config_file} does not exist")
    settings = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    use_cpu = bool(settings.get("use_cpu", False))
    if use_cpu and settings.get("distributed_type") != "MULTI_GPU":
        raise ValueError(
            f"accelerate config {config_file}: use_cpu needs distributed_type MULTI_GPU "
            "(the torch.distributed launcher); with "
            f"{settings.get('distributed_type')!r} accelerate starts a single process"
        )
    return use_cpu


def run_stage(
    stage: str, kwargs: dict, accelerate: dict | None = None, *, root: str | os.PathLike = "."
) -> None:
    """Run a training stage with JSON-able keyword arguments.

    ``accelerate`` is the rule's ``job_accelerate("train")`` param ({num_processes,
    config_file}). One process: the stage runs here. Several: the same stage runs under
    ``accelerate launch`` (one process per GPU, or CPU processes talking gloo when the
    config file says ``use_cpu``), which starts ``python -m alignment_tax.training_common``
    with the arguments in a JSON file.
    """
    run_stages([(stage, kwargs)], accelerate, root=root)


def cpu_threads_per_process(environ: dict, processes: int) -> dict[str, str]:
    """Thread variables that share the job's cores among its CPU training processes.

    Snakemake sets ``OMP_NUM_THREADS`` to the job's ``threads``, and the launched processes
    inherit it: 2 processes x 2 threads on 2 cores oversubscribe the CPU (OpenMP threads
    spin while a peer is preempted). torch.distributed.run sets 1 only when the variable is
    unset, so it is split here: each process gets cores // processes (at least 1).
    """
    cores = int(environ.get("OMP_NUM_THREADS") or 0) or (os.cpu_count() or 1)
    per_process = str(max(1, cores // max(1, processes)))
    return {"OMP_NUM_THREADS": per_process, "MKL_NUM_THREADS": per_process}


def run_stages(
    runs: Sequence[tuple[str, dict]],
    accelerate: dict | None = None,
    *,
    root: str | os.PathLike = ".",
) -> None:
    """Run several (stage, kwargs) in order, under one launch when there are several
    processes (the start-up of the processes, seconds of imports each, is paid once)."""
    import subprocess
    import sys
    import tempfile

    functions = [stage_function(stage) for stage, _ in runs]  # unknown names fail here
    processes = int((accelerate or {}).get("num_processes", 1))
    if processes <= 1:
        for func, (_, kwargs) in zip(functions, runs, strict=True):
            func(**kwargs)
        return
    config_file = Path(root) / accelerate["config_file"]
    env = dict(os.environ)
    if launch_uses_cpu(accelerate, root=root):
        env["ACCELERATE_USE_CPU"] = "true"
        env.update(cpu_threads_per_process(env, processes))
    scripts_dir = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = scripts_dir + os.pathsep + env.get("PYTHONPATH", "")
    spec = {
        "num_processes": processes,
        "runs": [{"stage": stage, "kwargs": kwargs} for stage, kwargs in runs],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
        args_file = handle.name
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config_file),
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "-m",
        "alignment_tax.training_common",
        args_file,
    ]
    logger.info("launching: %s", " ".join(cmd))
    try:
        subprocess.run(cmd, check=True, env=env)
    finally:
        os.unlink(args_file)


def _die_with_launcher() -> None:
    """Make the kernel kill this process when its launcher dies (Linux).

    torch.distributed.run starts each process in a session of its own, so a job killed with
    SIGKILL (a local Snakemake job, its process group) would leave its training processes
    running on, writing into the work folder of the job's rerun. No launcher option ties
    them to it; prctl(PR_SET_PDEATHSIG) does.
    """
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the launcher died before the call
        os._exit(1)


def _main(argv: list[str]) -> None:
    """Entry point of each launched process: check the world, then run the stages."""
    _die_with_launcher()
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    logging.basicConfig(level=logging.INFO)
    state = distributed_state()
    import torch

    logger.info(
        "process %d of %d (%s, backend %s, torch threads %d)",
        state.process_index,
        state.num_processes,
        state.distributed_type,
        state.backend,
        torch.get_num_threads(),
    )
    if state.num_processes != spec["num_processes"]:
        # e.g. GPU processes started on a machine without GPUs: each would train alone and
        # every one would write the outputs
        raise RuntimeError(
            f"launched {spec['num_processes']} processes but this one sees a world of "
            f"{state.num_processes} ({state.distributed_type}); for CPU processes set "
            "use_cpu: true in the accelerate config (config/accelerate/multi_cpu.yaml)"
        )
    for run in spec["runs"]:
        stage_function(run["stage"])(**run["kwargs"])


def link_representative(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """``dst`` becomes a hard-linked copy of the model folder ``src`` (atomically)."""
    if not (Path(src) / "config.json").is_file():
        raise FileNotFoundError(f"{src}: not a saved model (no config.json)")
    with atomic_dir(dst) as tmp:
        shutil.rmtree(tmp)
        link_tree(src, tmp)


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
