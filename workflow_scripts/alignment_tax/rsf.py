"""Rejection-sampling fine-tuning (RSF, iterative best-of-n; paper appendix D.1).

Per iteration: draw a batch of prompts, sample n answers each from the current model,
score them with the reward model, keep the best answer per prompt and fine-tune the
current model on those with TRL's SFTTrainer (fresh optimizer each iteration, as LMFlow's
RAFT does). The sample -> score -> fine-tune loop itself is not in any library, so it is
written here; the pieces (generation, scoring, SFT) are the shared ones.

Resume: each iteration's best-of-n samples and its fine-tuned model are saved atomically
in the work folder, and the fine-tuning inside an iteration resumes from Trainer
checkpoints, so a killed job continues inside the iteration it was in.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
from pathlib import Path

from alignment_tax.generation import sample_responses
from alignment_tax.io import atomic_dir, read_jsonl, write_json, write_jsonl
from alignment_tax.reward_scoring import score_texts
from alignment_tax.sft import sft_trainer
from alignment_tax.training_common import (
    distributed_state,
    input_stamp,
    is_main_process,
    link_tree,
    load_causal_lm,
    load_reward_model,
    prepare_work_dir,
    read_prompts,
    remove_work_dir,
    require_keys,
    run_phase,
    set_seed,
    stage_loading,
    wait_for_everyone,
)

logger = logging.getLogger(__name__)


def iteration_prompts(rows: list[dict], k: int, seed: int, iteration: int) -> list[dict]:
    """``k`` prompts for one iteration, drawn without replacement (cycling if k > len)."""
    order = list(range(len(rows)))
    random.Random(seed * 1000 + iteration).shuffle(order)
    picked = [order[i % len(order)] for i in range(k)]
    return [rows[i] for i in picked]


def best_of_n(
    model,
    reward_model,
    tokenizer,
    prompt_rows: list[dict],
    *,
    n: int,
    max_new_tokens: int,
    temperature: float,
    batch_size: int,
    seed: int,
    iteration: int,
) -> list[dict]:
    """Sample n answers per prompt, score them, keep the best per prompt."""
    prompts = [r["prompt"] for r in prompt_rows]
    samples = sample_responses(
        model,
        tokenizer,
        prompts,
        n=n,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        batch_size=batch_size,
        seed=seed,
    )
    flat_prompts = [p for p, group in zip(prompts, samples, strict=True) for _ in group]
    flat = [s for group in samples for s in group]
    rewards = score_texts(reward_model, tokenizer, flat_prompts, flat, batch_size=batch_size)
    best = []
    for i, row in enumerate(prompt_rows):
        group = rewards[i * n : (i + 1) * n]
        j = max(range(n), key=group.__getitem__)
        best.append(
            {
                "iteration": iteration,
                "prompt": row["prompt"],
                "response": samples[i][j],
                "reward": group[j],
                "mean_reward": sum(group) / n,
                "meta": row.get("meta"),
            }
        )
    return best


def train_rsf(
    sft_dir: str | os.PathLike,
    reward_model_dir: str | os.PathLike,
    prompts_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    params: dict,
    *,
    seed: int,
    model_kwargs: dict | None = None,
) -> dict:
    """Run RSF from theta0. Writes ``out_dir`` (final model, iter_<i>/ per iteration with
    iter_0 = theta0, pool.jsonl of all best-of-n samples, metrics.json).

    params: iterations, prompts_per_iteration, n_samples, epochs, lr, batch_size,
    max_new_tokens, temperature; optional generation_batch_size, max_length, scheduler,
    warmup_ratio, micro_batch_size, save_steps, bf16, gradient_checkpointing.
    """
    import torch

    model_kwargs = model_kwargs or {}
    work_dir = prepare_work_dir(
        work_dir,
        dict(
            stage="rsf",
            params=params,
            seed=seed,
            model=model_kwargs,
            inputs=input_stamp(sft_dir, reward_model_dir, prompts_path),
        ),
    )
    require_keys(params, "rlhf.rsf", (
        "iterations",
        "prompts_per_iteration",
        "n_samples",
        "epochs",
        "lr",
        "batch_size",
        "max_new_tokens",
        "temperature",
    ))
    prompt_rows = read_prompts(prompts_path)
    work_dir = Path(work_dir)
    tokenizer, load = stage_loading(sft_dir, model_kwargs)
    device = distributed_state().device
    reward_model = None
    gen_batch = params.get("generation_batch_size", 64)

    current = Path(sft_dir)
    history = []
    for it in range(1, params["iterations"] + 1):
        samples_path = work_dir / f"samples_{it}.jsonl"
        if not samples_path.is_file():
            if is_main_process():
                set_seed(seed + it)
                if reward_model is None:
                    reward_model = load_reward_model(
                        reward_model_dir, pad_token_id=tokenizer.pad_token_id, **load
                    ).to(device)
                model = load_causal_lm(current, **load).to(device)
                batch = iteration_prompts(prompt_rows, params["prompts_per_iteration"], seed, it)
                best = best_of_n(
                    model,
                    reward_model,
                    tokenizer,
                    batch,
                    n=params["n_samples"],
                    max_new_tokens=params["max_new_tokens"],
                    temperature=params["temperature"],
                    batch_size=gen_batch,
                    seed=seed * 1000 + it,
                    iteration=it,
                )
                del model
                write_jsonl(samples_path, best)
            wait_for_everyone()
        best = read_jsonl(samples_path)
        mean_best = sum(r["reward"] for r in best) / len(best)
        mean_all = sum(r["mean_reward"] for r in best) / len(best)
        history.append(
            {"iteration": it, "mean_best_reward": mean_best, "mean_sample_reward": mean_all}
        )
        logger.info(
            "RSF iteration %d: mean sampled reward %.3f, mean best-of-%d %.3f",
            it,
            mean_all,
            params["n_samples"],
            mean_best,
        )
        rows = [{"prompt": r["prompt"], "completion": r["response"]} for r in best]
        start = current

        def build(output_dir, start=start, rows=rows, it=it):
            model = load_causal_lm(start, **load)
            return sft_trainer(
                model,
                tokenizer,
                rows,
                params=params,
                lr=params["lr"],
                epochs=params["epochs"],
                batch_size=params["batch_size"],
                seed=seed + it,
                output_dir=output_dir,
            )

        current = run_phase(work_dir, f"iter_{it}", build, tokenizer)
        if is_main_process():
            # the iteration is saved; its Trainer checkpoints are no longer needed
            shutil.rmtree(work_dir / f"iter_{it}" / "checkpoints", ignore_errors=True)
        if reward_model is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    metrics = {"iterations": history}
    if is_main_process():
        with atomic_dir(out_dir) as tmp:
            for item in current.iterdir():
                if item.is_file():
                    shutil.copy2(item, tmp / item.name)
            link_tree(sft_dir, tmp / "iter_0")
            for it in range(1, params["iterations"] + 1):
                link_tree(work_dir / f"iter_{it}" / "final", tmp / f"iter_{it}")
            pool = [
                row
                for it in range(1, params["iterations"] + 1)
                for row in read_jsonl(work_dir / f"samples_{it}.jsonl")
            ]
            write_jsonl(tmp / "pool.jsonl", pool)
            write_json(tmp / "metrics.json", metrics)
    wait_for_everyone()
    remove_work_dir(work_dir)
    return metrics
