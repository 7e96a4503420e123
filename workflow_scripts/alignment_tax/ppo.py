"""PPO with TRL's PPOTrainer (trl.experimental.ppo, trl 1.12; paper appendix D.2, table 2).

Warm-up: SFT of theta0 on the preferred answers of the preference data for
``warmup_sft_epochs`` (Ramamurthy et al., as the paper does). PPO then starts from the
warm-up model, with the warm-up model as the frozen KL reference, a value model
initialised from the reward model, the reward model's score minus ``reward_baseline``
as the reward, and KL coefficient ``kl_coef``.

Resume: TRL's PPOTrainer.train() has no resume_from_checkpoint, so the run is cut into
segments of ``save_every_updates`` PPO updates. After each segment the policy, value model
and Adam state are saved atomically; a rerun continues after the last saved segment. An
uninterrupted run goes through the same segments, so a killed-and-resumed run ends with
the same model. The learning rate is constant (table 2 gives no schedule), which keeps
segments composable.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from pathlib import Path

from alignment_tax.io import atomic_dir, write_json
from alignment_tax.sft import sft_trainer
from alignment_tax.training_common import (
    batch_layout,
    chosen_as_sft,
    input_stamp,
    is_main_process,
    link_tree,
    load_causal_lm,
    load_reward_model,
    prepare_work_dir,
    read_preference_pairs,
    read_prompts,
    remove_work_dir,
    require_keys,
    run_phase,
    save_model,
    set_seed,
    split_heldout,
    stage_loading,
    wait_for_everyone,
)

logger = logging.getLogger(__name__)


def train_ppo_warmup(
    sft_dir,
    hh_train_path,
    out_dir,
    work_dir,
    params: dict,
    *,
    heldout_fraction: float,
    seed: int,
    model_kwargs: dict | None = None,
) -> Path:
    """SFT of theta0 on the preferred answers (train split of the RM data) -> ``out_dir``."""
    model_kwargs = model_kwargs or {}
    work_dir = prepare_work_dir(
        work_dir,
        dict(
            stage="ppo_warmup",
            params=params,
            heldout_fraction=heldout_fraction,
            seed=seed,
            model=model_kwargs,
            inputs=input_stamp(sft_dir, hh_train_path),
        ),
    )
    tokenizer, load = stage_loading(sft_dir, model_kwargs)
    epochs = params.get("warmup_sft_epochs", 0) or 0
    if epochs <= 0:
        if is_main_process():
            with atomic_dir(out_dir) as tmp:
                shutil.rmtree(tmp)
                link_tree(sft_dir, tmp)
        wait_for_everyone()
        return Path(out_dir)
    set_seed(seed)
    pairs, _ = split_heldout(read_preference_pairs(hh_train_path), heldout_fraction, seed)

    def build(output_dir):
        model = load_causal_lm(sft_dir, **load)
        return sft_trainer(
            model,
            tokenizer,
            chosen_as_sft(pairs),
            params=params,
            lr=params.get("warmup_lr", params["lr"]),
            epochs=epochs,
            batch_size=params.get("warmup_batch_size", params["mini_batch_size"]),
            seed=seed,
            output_dir=output_dir,
        )

    final = run_phase(work_dir, "warmup", build, tokenizer)
    if is_main_process():
        save_model(load_causal_lm(final, **load), tokenizer, out_dir)
    wait_for_everyone()
    remove_work_dir(work_dir)
    return Path(out_dir)


def _score_minus_baseline(head, baseline: float):
    """Wrap a reward model's ``score`` head so that TRL's get_reward (which calls
    ``model.score(hidden)``) sees reward - baseline; PPOTrainer has no baseline option."""
    import torch

    class ScoreMinusBaseline(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = head

        def forward(self, hidden):
            return self.head(hidden) - baseline

    return ScoreMinusBaseline()


def _prompt_dataset(tokenizer, prompts: list[str], max_prompt_length: int | None):
    from datasets import Dataset

    enc = tokenizer(prompts)["input_ids"]
    if max_prompt_length:
        enc = [ids[-max_prompt_length:] for ids in enc]  # keep the end: it holds "Assistant:"
    return Dataset.from_dict({"input_ids": enc})


def train_ppo(
    warmup_dir: str | os.PathLike,
    reward_model_dir: str | os.PathLike,
    prompts_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    params: dict,
    *,
    kl_coef: float,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    model_kwargs: dict | None = None,
) -> dict:
    """params: the config's rlhf.ppo section (lr, batch_size, mini_batch_size,
    update_epochs, total_episodes, reward_baseline; optional save_every_updates,
    micro_batch_size, missing_eos_penalty, kl_estimator, vf_coef, cliprange, whiten_rewards,
    max_prompt_length, bf16, gradient_checkpointing)."""
    import torch
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    model_kwargs = model_kwargs or {}
    work_dir = prepare_work_dir(
        work_dir,
        dict(
            stage="ppo",
            params=params,
            kl_coef=kl_coef,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=seed,
            model=model_kwargs,
            inputs=input_stamp(warmup_dir, reward_model_dir, prompts_path),
        ),
    )
    require_keys(params, "rlhf.ppo", (
        "lr",
        "batch_size",
        "mini_batch_size",
        "update_epochs",
        "total_episodes",
        "reward_baseline",
    ))
    if params["batch_size"] % params["mini_batch_size"]:
        raise ValueError("rlhf.ppo.batch_size must be a multiple of rlhf.ppo.mini_batch_size")
    tokenizer, load = stage_loading(warmup_dir, model_kwargs)
    tokenizer.padding_side = "left"  # queries are left-padded for generation
    prompts = [r["prompt"] for r in read_prompts(prompts_path)]
    dataset = _prompt_dataset(tokenizer, prompts, params.get("max_prompt_length"))
    work_dir = Path(work_dir)

    n_updates = max(1, params["total_episodes"] // params["batch_size"])
    per_segment = params.get("save_every_updates", 4)
    n_segments = math.ceil(n_updates / per_segment)
    micro, _ = batch_layout(params["mini_batch_size"], params.get("micro_batch_size"))
    from alignment_tax.training_common import world_size

    # TRL's PPOConfig semantics: data-collection batch = per-device batch x gradient
    # accumulation x processes; it is split into num_mini_batches update batches.
    accum = params["batch_size"] // (micro * world_size())
    num_mini_batches = params["batch_size"] // params["mini_batch_size"]

    history = []
    done = 0
    for seg in range(n_segments):
        seg_dir = work_dir / f"segment_{seg}"
        updates = min(per_segment, n_updates - seg * per_segment)
        if (seg_dir / "done.json").is_file():
            history.extend(json.loads((seg_dir / "done.json").read_text())["log"])
            done = seg + 1
            continue
        prev = work_dir / f"segment_{seg - 1}" if seg > 0 else None
        set_seed(seed + seg)
        policy = load_causal_lm(prev / "policy" if prev else warmup_dir, **load)
        ref = load_causal_lm(warmup_dir, **load)
        value = load_reward_model(
            prev / "value" if prev else reward_model_dir,
            pad_token_id=tokenizer.pad_token_id,
            **load,
        )
        reward = load_reward_model(reward_model_dir, pad_token_id=tokenizer.pad_token_id, **load)
        reward.score = _score_minus_baseline(reward.score, float(params["reward_baseline"]))
        args = PPOConfig(
            output_dir=str(work_dir / "trainer"),
            learning_rate=params["lr"],
            lr_scheduler_type="constant",
            per_device_train_batch_size=micro,
            gradient_accumulation_steps=accum,
            num_mini_batches=num_mini_batches,
            local_rollout_forward_batch_size=params.get(
                "rollout_batch_size", micro * accum * num_mini_batches
            ),
            total_episodes=updates * params["batch_size"],
            num_ppo_epochs=params["update_epochs"],
            kl_coef=kl_coef,
            kl_estimator=params.get("kl_estimator", "k1"),
            vf_coef=params.get("vf_coef", 0.1),
            cliprange=params.get("cliprange", 0.2),
            whiten_rewards=params.get("whiten_rewards", False),
            missing_eos_penalty=params.get("missing_eos_penalty"),
            response_length=max_new_tokens,
            temperature=temperature,
            stop_token="eos",
            num_sample_generations=0,
            save_strategy="no",
            report_to="none",
            logging_steps=1,
            seed=seed + seg,
            bf16=bool(params.get("bf16", False)),
            gradient_checkpointing=bool(params.get("gradient_checkpointing", False)),
            disable_tqdm=True,
        )
        trainer = PPOTrainer(
            args=args,
            processing_class=tokenizer,
            model=policy,
            ref_model=ref,
            reward_model=reward,
            value_model=value,
            train_dataset=dataset,
            eval_dataset=dataset.select(range(min(8, len(dataset)))),
        )
        if prev is not None:
            state = torch.load(prev / "optimizer.pt", map_location="cpu", weights_only=True)
            trainer.optimizer.load_state_dict(state)
        trainer.train()
        log = [dict(r, segment=seg) for r in trainer.state.log_history]
        history.extend(log)
        if trainer.accelerator.is_main_process:
            unwrapped = trainer.accelerator.unwrap_model(trainer.model)
            with atomic_dir(seg_dir) as tmp:
                unwrapped.policy.save_pretrained(tmp / "policy", safe_serialization=True)
                unwrapped.value_model.save_pretrained(tmp / "value", safe_serialization=True)
                torch.save(trainer.optimizer.state_dict(), tmp / "optimizer.pt")
                (tmp / "done.json").write_text(json.dumps({"log": log}, default=float) + "\n")
            if prev is not None:
                shutil.rmtree(prev / "value", ignore_errors=True)  # keep disk bounded
        trainer.accelerator.wait_for_everyone()
        done = seg + 1
        del trainer, policy, ref, value, reward

    metrics = {"kl_coef": kl_coef, "segments": done, "updates": n_updates, "log": history}
    if is_main_process():
        last = work_dir / f"segment_{n_segments - 1}" / "policy"
        tokenizer.padding_side = "right"
        with atomic_dir(out_dir) as tmp:
            for item in last.iterdir():
                if item.is_file():
                    shutil.copy2(item, tmp / item.name)
            tokenizer.save_pretrained(tmp)
            write_json(tmp / "ppo_metrics.json", metrics)
    wait_for_everyone()
    remove_work_dir(work_dir)
    return metrics
