"""Supervised fine-tuning with TRL's SFTTrainer: theta_pre -> theta0.

Which model is theta0 (the merge endpoint and the start of every RLHF algorithm) is the
config switch ``sft.theta0``:

* ``sharegpt`` (default, the paper's section 3: "We commenced with instruction fine-tuning
  for theta_pre on ShareGPT, which yielded theta0. Subsequently, RLHF was performed on
  theta0"): ShareGPT SFT only.
* ``sharegpt_then_hh``: that model fine-tuned further on HH-RLHF preferred answers
  (``hh_epochs``, ``hh_lr``, ``hh_batch_size``), the SFT start of LMFlow's RAFT pipeline.

Data are prompt/completion rows in the HH layout; the loss covers completions only and
SFTTrainer appends EOS to each completion, so the model learns to stop.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from alignment_tax.training_common import (
    chosen_as_sft,
    input_stamp,
    load_causal_lm,
    prepare_work_dir,
    read_preference_pairs,
    remove_work_dir,
    run_phase,
    save_model,
    set_seed,
    sharegpt_to_prompt_completion,
    stage_loading,
    trainer_kwargs,
)

logger = logging.getLogger(__name__)

THETA0_CHOICES = ("sharegpt", "sharegpt_then_hh")
HH_KEYS = ("hh_epochs", "hh_lr", "hh_batch_size")


def theta0_recipe(params: dict) -> str:
    """The ``sft.theta0`` switch, checked (default ``sharegpt``)."""
    choice = params.get("theta0", "sharegpt")
    if choice not in THETA0_CHOICES:
        raise ValueError(f"config key 'sft.theta0': {choice!r} is not one of {THETA0_CHOICES}")
    return choice


def rule_params(sft_config: dict) -> dict:
    """The ``sft`` section as rule train_sft passes it: the HH-RLHF phase's keys only when
    theta0 includes that phase, so that they rerun nothing otherwise."""
    if theta0_recipe(sft_config) == "sharegpt_then_hh":
        return dict(sft_config)
    return {k: v for k, v in sft_config.items() if k not in HH_KEYS}


def sft_trainer(
    model,
    tokenizer,
    rows: list[dict],
    *,
    params: dict,
    lr: float,
    epochs: float,
    batch_size: int,
    seed: int,
    output_dir: str,
    eval_rows: list[dict] | None = None,
    extra_args: dict | None = None,
):
    """An SFTTrainer on prompt/completion rows (shared by SFT, RM SFT, RSF, PPO warm-up)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        **trainer_kwargs(
            params, output_dir=output_dir, seed=seed, lr=lr, epochs=epochs, batch_size=batch_size
        ),
        max_length=params.get("max_length", 1024),
        completion_only_loss=True,
        packing=False,  # one example per row (packing hurt the toy model, TOYWORLD.md)
        **(extra_args or {}),
    )
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
    )


def train_sft(
    base_dir: str | os.PathLike,
    sharegpt_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    params: dict,
    *,
    seed: int,
    hh_train_path: str | os.PathLike | None = None,
    model_kwargs: dict | None = None,
) -> Path:
    """theta0 = SFT of the base model on ShareGPT, then on HH-RLHF chosen answers when
    ``params["theta0"]`` is ``sharegpt_then_hh``.

    params: the config's ``sft`` section (epochs, lr, batch_size, max_length, warmup_ratio,
    scheduler, theta0; with sharegpt_then_hh hh_epochs, hh_lr, hh_batch_size; optional
    micro_batch_size, save_steps, bf16, gradient_checkpointing).
    """
    with_hh = theta0_recipe(params) == "sharegpt_then_hh"
    if with_hh and hh_train_path is None:
        raise ValueError("config key 'sft.theta0': sharegpt_then_hh needs the HH-RLHF train file")
    model_kwargs = model_kwargs or {}
    work_dir = prepare_work_dir(
        work_dir,
        dict(
            stage="sft",
            params=params,
            seed=seed,
            model=model_kwargs,
            inputs=input_stamp(base_dir, sharegpt_path, hh_train_path if with_hh else None),
        ),
    )
    set_seed(seed)
    rows = sharegpt_to_prompt_completion(sharegpt_path)
    hh_rows = chosen_as_sft(read_preference_pairs(hh_train_path)) if with_hh else None
    hh_epochs = params.get("hh_epochs", 1)
    tokenizer, load = stage_loading(base_dir, model_kwargs)

    def build_sharegpt(output_dir):
        model = load_causal_lm(base_dir, **load)
        return sft_trainer(
            model,
            tokenizer,
            rows,
            params=params,
            lr=params["lr"],
            epochs=params["epochs"],
            batch_size=params["batch_size"],
            seed=seed,
            output_dir=output_dir,
        )

    final = run_phase(work_dir, "sharegpt", build_sharegpt, tokenizer)
    if hh_rows is not None:
        previous = final

        def build_hh(output_dir):
            model = load_causal_lm(previous, **load)
            return sft_trainer(
                model,
                tokenizer,
                hh_rows,
                params=params,
                lr=params.get("hh_lr", params["lr"]),
                epochs=hh_epochs,
                batch_size=params.get("hh_batch_size", params["batch_size"]),
                seed=seed,
                output_dir=output_dir,
            )

        final = run_phase(work_dir, "hh_chosen", build_hh, tokenizer)
    from alignment_tax.training_common import is_main_process, wait_for_everyone

    if is_main_process():
        model = load_causal_lm(final, **load)
        save_model(model, tokenizer, out_dir)
    wait_for_everyone()
    remove_work_dir(work_dir)
    return Path(out_dir)
