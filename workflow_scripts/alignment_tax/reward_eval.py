"""Alignment reward: one sampled answer per held-out prompt, scored by the reward model.

As the authors ran it: temperature 1.0, one sample per prompt (196 new tokens in the paper
configuration). Reported: mean reward with its standard error, mean answer length, and in
the toy world the hidden true reward too, so the reward model's error is visible.
Sampling and scoring are the shared functions used by training (alignment_tax.generation,
alignment_tax.reward_scoring), so reward means the same thing in every stage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from alignment_tax.generation import sample_responses
from alignment_tax.io import read_jsonl
from alignment_tax.metrics import mean_stderr
from alignment_tax.reward_scoring import score_texts

logger = logging.getLogger(__name__)


def select_prompts(rows: Sequence[Mapping], n_prompts: int | None) -> list[Mapping]:
    """The first ``n_prompts`` held-out prompt rows (the same ones for every variant)."""
    for i, row in enumerate(rows):
        if "prompt" not in row:
            raise KeyError(f"eval prompt row {i} has no 'prompt' field")
    if n_prompts is not None:
        if n_prompts > len(rows):
            raise ValueError(f"evaluation.reward.n_prompts = {n_prompts} but only {len(rows)} "
                             "eval prompts exist")
        rows = rows[:n_prompts]
    return list(rows)


def read_eval_prompts(path, n_prompts: int | None) -> list[Mapping]:
    """The held-out prompt rows an evaluation scores, read and checked (a JSON object with
    a non-empty string "prompt" per line, at least ``n_prompts`` of them) BEFORE the job
    loads the reward model and builds the variant; errors name the file and line."""
    rows = read_jsonl(path, required=("prompt",))
    if not rows:
        raise ValueError(f"{path}: no eval prompts (empty file)")
    with open(path, encoding="utf-8") as handle:
        line_nos = [i for i, line in enumerate(handle, 1) if line.strip()]
    for line_no, row in zip(line_nos, rows, strict=True):
        if not isinstance(row["prompt"], str) or not row["prompt"].strip():
            raise ValueError(f"{path}, line {line_no}: field 'prompt' must be a non-empty "
                             f"string, got {row['prompt']!r}")
    try:
        return select_prompts(rows, n_prompts)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def _summary(values: Sequence[float]) -> dict[str, float]:
    mean, stderr, n = mean_stderr(values)
    return {"mean": mean, "stderr": stderr, "n": n}


def evaluate_reward(
    model,
    tokenizer,
    reward_model,
    reward_tokenizer,
    rows: Sequence[Mapping],
    *,
    n_prompts: int | None,
    max_new_tokens: int,
    temperature: float = 1.0,
    batch_size: int = 32,
    seed: int = 0,
    reward_max_length: int | None = None,
    hidden_reward: Callable[[Mapping, str], float] | None = None,
) -> dict[str, Any]:
    """Sample, score and summarise; returns the JSON-ready result with every sample."""
    rows = select_prompts(rows, n_prompts)
    prompts = [row["prompt"] for row in rows]
    start = time.perf_counter()
    responses = [
        group[0]
        for group in sample_responses(
            model,
            tokenizer,
            prompts,
            n=1,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            batch_size=batch_size,
            seed=seed,
        )
    ]
    sample_seconds = time.perf_counter() - start
    rewards = score_texts(
        reward_model,
        reward_tokenizer,
        prompts,
        responses,
        batch_size=batch_size,
        max_length=reward_max_length,
    )
    # answer length in tokens of the policy's tokenizer (the decoded answer re-tokenized)
    lengths = [len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in responses]
    out: dict[str, Any] = {
        "group": "reward",
        "reward": _summary(rewards),
        "length_tokens": _summary(lengths),
        "length_words": _summary([len(r.split()) for r in responses]),
        "settings": {
            "n_prompts": len(prompts),
            "samples_per_prompt": 1,
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
            "batch_size": batch_size,
            "seed": seed,
        },
        "seconds": time.perf_counter() - start,
        "sample_seconds": sample_seconds,
    }
    samples = [
        {"prompt": p, "response": r, "reward": s, "length": n}
        for p, r, s, n in zip(prompts, responses, rewards, lengths, strict=True)
    ]
    if hidden_reward is not None:
        # toy world: the programmatic preference the reward model was trained to imitate
        true = [
            hidden_reward(row.get("meta") or {}, r)
            for row, r in zip(rows, responses, strict=True)
        ]
        out["true_reward"] = _summary(true)
        for sample, value in zip(samples, true, strict=True):
            sample["true_reward"] = value
        import numpy as np

        # how well the reward model tracks the truth on these answers (NaN if either is flat)
        if len(true) > 2 and np.std(rewards) > 0 and np.std(true) > 0:
            out["reward_true_correlation"] = float(np.corrcoef(rewards, true)[0, 1])
        else:
            out["reward_true_correlation"] = float("nan")
    out["samples"] = samples
    logger.info("reward %s, length %s", out["reward"], out["length_tokens"])
    return out
