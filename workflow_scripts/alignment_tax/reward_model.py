"""Bradley-Terry reward model: SFT on HH-RLHF preferred answers, then TRL's RewardTrainer.

Paper (table 3): RM SFT lr 2e-5 for 2 epochs, RM training lr 5e-6 for 1 epoch, batch 16.
Reported: preference accuracy on held-out pairs (the validation split carved from the
train pairs and the test file) and, in the toy world, agreement with the hidden reward.
"""

from __future__ import annotations

import logging
import os

from alignment_tax.io import read_jsonl
from alignment_tax.reward_scoring import score_texts
from alignment_tax.sft import sft_trainer
from alignment_tax.training_common import (
    chosen_as_sft,
    input_stamp,
    is_main_process,
    load_causal_lm,
    load_reward_model,
    prepare_work_dir,
    read_preference_pairs,
    remove_work_dir,
    run_phase,
    save_model,
    set_seed,
    split_heldout,
    stage_loading,
    trainer_kwargs,
    wait_for_everyone,
)

logger = logging.getLogger(__name__)


def preference_accuracy(
    reward_model,
    tokenizer,
    pairs: list[dict],
    *,
    batch_size: int = 32,
    max_length: int | None = None,
) -> dict:
    """Share of pairs whose chosen answer scores above the rejected one (ties count half)."""
    prompts = [p["prompt"] for p in pairs]
    chosen = score_texts(
        reward_model,
        tokenizer,
        prompts,
        [p["chosen"] for p in pairs],
        batch_size=batch_size,
        max_length=max_length,
    )
    rejected = score_texts(
        reward_model,
        tokenizer,
        prompts,
        [p["rejected"] for p in pairs],
        batch_size=batch_size,
        max_length=max_length,
    )
    wins = sum(
        1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen, rejected, strict=True)
    )
    return {
        "accuracy": wins / len(pairs),
        "n_pairs": len(pairs),
        "chosen_scores": chosen,
        "rejected_scores": rejected,
    }


def hidden_reward_agreement(chosen_scores, rejected_scores, truth_rows: list[dict]) -> dict:
    """Agreement of the RM with the toy world's hidden reward on the same pairs: the share of
    pairs (with unequal hidden rewards) ordered the same way, and the Spearman correlation of
    RM scores and hidden rewards over all answers."""
    import pandas as pd

    if len(truth_rows) != len(chosen_scores):
        raise ValueError(f"truth file has {len(truth_rows)} rows for {len(chosen_scores)} pairs")
    agree = total = 0
    for c, r, t in zip(chosen_scores, rejected_scores, truth_rows, strict=True):
        diff = t["chosen_reward"] - t["rejected_reward"]
        if diff == 0:
            continue
        total += 1
        agree += int((c - r) * diff > 0)
    scores = list(chosen_scores) + list(rejected_scores)
    truth = [t["chosen_reward"] for t in truth_rows] + [t["rejected_reward"] for t in truth_rows]
    spearman = float(pd.Series(scores).corr(pd.Series(truth), method="spearman"))
    return {
        "pair_agreement": agree / total if total else float("nan"),
        "n_pairs_with_truth_order": total,
        "spearman_with_hidden_reward": spearman,
    }


def train_reward_model(
    base_dir: str | os.PathLike,
    hh_train_path: str | os.PathLike,
    hh_test_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    params: dict,
    *,
    seed: int,
    test_truth_path: str | os.PathLike | None = None,
    model_kwargs: dict | None = None,
) -> dict:
    """Train the RM; save it (AutoModelForSequenceClassification, 1 label) + metrics.json.

    params: the config's ``reward_model`` section (sft_epochs, sft_lr, epochs, lr,
    batch_size, max_length, heldout_fraction; optional micro_batch_size, save_steps, bf16,
    gradient_checkpointing, warmup_ratio, scheduler).
    """
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    model_kwargs = model_kwargs or {}
    work_dir = prepare_work_dir(
        work_dir,
        dict(
            stage="reward_model",
            params=params,
            seed=seed,
            model=model_kwargs,
            inputs=input_stamp(base_dir, hh_train_path),
        ),
    )
    set_seed(seed)
    pairs = read_preference_pairs(hh_train_path)
    test_pairs = read_preference_pairs(hh_test_path)
    truth = read_jsonl(test_truth_path) if test_truth_path else None
    train_pairs, val_pairs = split_heldout(pairs, params["heldout_fraction"], seed)
    tokenizer, load = stage_loading(base_dir, model_kwargs)

    # 1. RM SFT: language modelling on the preferred answers
    sft_dir = base_dir
    if params.get("sft_epochs", 0) > 0:

        def build_sft(output_dir):
            model = load_causal_lm(base_dir, **load)
            return sft_trainer(
                model,
                tokenizer,
                chosen_as_sft(train_pairs),
                params=params,
                lr=params["sft_lr"],
                epochs=params["sft_epochs"],
                batch_size=params.get("sft_batch_size", params["batch_size"]),
                seed=seed,
                output_dir=output_dir,
            )

        sft_dir = run_phase(work_dir, "rm_sft", build_sft, tokenizer)

    # 2. Bradley-Terry training
    def build_rm(output_dir):
        model = load_reward_model(sft_dir, pad_token_id=tokenizer.pad_token_id, **load)
        args = RewardConfig(
            **trainer_kwargs(
                params,
                output_dir=output_dir,
                seed=seed,
                lr=params["lr"],
                epochs=params["epochs"],
                batch_size=params["batch_size"],
            ),
            max_length=params["max_length"],
        )
        return RewardTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(train_pairs),
            processing_class=tokenizer,
        )

    final = run_phase(work_dir, "rm", build_rm, tokenizer)
    metrics: dict = {}
    if is_main_process():
        model = load_reward_model(final, pad_token_id=tokenizer.pad_token_id, **load)
        val = preference_accuracy(model, tokenizer, val_pairs, max_length=params["max_length"])
        test = preference_accuracy(model, tokenizer, test_pairs, max_length=params["max_length"])
        metrics = {
            "validation_accuracy": val["accuracy"],
            "n_validation_pairs": val["n_pairs"],
            "test_accuracy": test["accuracy"],
            "n_test_pairs": test["n_pairs"],
            "n_train_pairs": len(train_pairs),
        }
        if truth is not None and len(truth) == len(test_pairs):
            metrics["hidden_reward"] = hidden_reward_agreement(
                test["chosen_scores"], test["rejected_scores"], truth
            )
        logger.info("reward model metrics: %s", metrics)
        save_model(model, tokenizer, out_dir, extra_json={"metrics.json": metrics})
    wait_for_everyone()
    remove_work_dir(work_dir)
    return metrics
