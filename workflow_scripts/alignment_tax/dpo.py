"""Direct Preference Optimization with TRL's DPOTrainer (paper appendix D.3).

Trains theta0 on the HH-RLHF train pairs for up to ``epochs`` epochs, evaluating and
checkpointing every ``eval_every_epochs`` epoch on the reward-modelling validation split;
the representative model is the checkpoint with the lowest evaluation loss (Trainer's
load_best_model_at_end). The reference model is a frozen copy of theta0.
"""

from __future__ import annotations

import logging
import math
import os

from alignment_tax.training_common import (
    batch_layout,
    input_stamp,
    is_main_process,
    load_causal_lm,
    prepare_work_dir,
    read_preference_pairs,
    remove_work_dir,
    require_keys,
    run_phase,
    set_seed,
    split_heldout,
    stage_loading,
    trainer_kwargs,
    wait_for_everyone,
)

logger = logging.getLogger(__name__)


def train_dpo(
    sft_dir: str | os.PathLike,
    hh_train_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    params: dict,
    *,
    beta: float,
    heldout_fraction: float,
    seed: int,
    model_kwargs: dict | None = None,
) -> dict:
    """params: the config's rlhf.dpo section (lr, batch_size, epochs, eval_every_epochs;
    optional max_length, micro_batch_size, scheduler, warmup_ratio, bf16,
    gradient_checkpointing, loss_type)."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    model_kwargs = model_kwargs or {}
    work_dir = prepare_work_dir(
        work_dir,
        dict(
            stage="dpo",
            params=params,
            beta=beta,
            heldout_fraction=heldout_fraction,
            seed=seed,
            model=model_kwargs,
            inputs=input_stamp(sft_dir, hh_train_path),
        ),
    )
    require_keys(params, "rlhf.dpo", ("lr", "batch_size", "epochs", "eval_every_epochs"))
    set_seed(seed)
    pairs = read_preference_pairs(hh_train_path)
    train_pairs, val_pairs = split_heldout(pairs, heldout_fraction, seed)
    tokenizer, load = stage_loading(sft_dir, model_kwargs)
    micro, accum = batch_layout(params["batch_size"], params.get("micro_batch_size"))
    from alignment_tax.training_common import world_size

    steps_per_epoch = max(1, math.ceil(len(train_pairs) / (micro * world_size())) // accum)
    eval_steps = max(1, round(steps_per_epoch * params["eval_every_epochs"]))

    def build(output_dir):
        model = load_causal_lm(sft_dir, **load)
        kwargs = trainer_kwargs(
            params,
            output_dir=output_dir,
            seed=seed,
            lr=params["lr"],
            epochs=params["epochs"],
            batch_size=params["batch_size"],
        )
        kwargs.update(
            save_steps=eval_steps,
            eval_strategy="steps",
            eval_steps=eval_steps,
            load_best_model_at_end=True,
            metric_for_best_model="eval_loss",
            greater_is_better=False,
            lr_scheduler_type=params.get("scheduler", "linear"),
        )
        args = DPOConfig(
            **kwargs,
            beta=beta,
            max_length=params.get("max_length", 1024),
            loss_type=params.get("loss_type", "sigmoid"),
        )
        return DPOTrainer(
            model=model,
            ref_model=None,
            args=args,
            train_dataset=Dataset.from_list(train_pairs),
            eval_dataset=Dataset.from_list(val_pairs),
            processing_class=tokenizer,
        )

    final = run_phase(work_dir, f"dpo_beta{beta}", build, tokenizer)
    metrics = {}
    if is_main_process():
        import json
        import shutil

        log = json.loads((final / "train_log.json").read_text())
        evals = [
            {
                "step": r["step"],
                "epoch": r.get("epoch"),
                "eval_loss": r["eval_loss"],
                "eval_accuracy": r.get("eval_rewards/accuracies"),
            }
            for r in log
            if "eval_loss" in r
        ]
        best = min(evals, key=lambda r: r["eval_loss"]) if evals else None
        metrics = {
            "beta": beta,
            "evaluations": evals,
            "selected": best,
            "steps_per_epoch": steps_per_epoch,
        }
        logger.info("DPO: selected checkpoint %s", best)
        from alignment_tax.io import atomic_dir

        with atomic_dir(out_dir) as tmp:
            for item in final.iterdir():
                if item.is_file():
                    shutil.copy2(item, tmp / item.name)
            (tmp / "dpo_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    wait_for_everyone()
    remove_work_dir(work_dir)
    return metrics
