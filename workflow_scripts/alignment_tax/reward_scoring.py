"""Scoring (prompt, response) pairs with a Bradley-Terry reward model."""

from __future__ import annotations

import torch


@torch.no_grad()
def score_texts(
    reward_model,
    tokenizer,
    prompts: list[str],
    responses: list[str],
    *,
    batch_size: int = 32,
    max_length: int | None = None,
) -> list[float]:
    """Reward of each ``prompt + response`` (one scalar logit per text).

    The reward model is an AutoModelForSequenceClassification with one label; it reads the
    last non-padding token, so right padding is used here. Texts are built and tokenised
    exactly as TRL's RewardTrainer built its training pairs: ``prompt + response + eos``
    (EOS added unless already there), tokenised with the tokenizer's default special
    tokens (a BOS for LLaMA tokenizers, nothing for the toy one).
    """
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    reward_model.eval()
    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    device = next(reward_model.parameters()).device
    eos = tokenizer.eos_token or ""
    texts = [
        p + r if eos and r.endswith(eos) else p + r + eos
        for p, r in zip(prompts, responses, strict=True)
    ]
    scores: list[float] = []
    try:
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(
                texts[start : start + batch_size],
                return_tensors="pt",
                padding=True,
                truncation=max_length is not None,
                max_length=max_length,
            )
            enc = {k: v.to(device) for k, v in enc.items()}
            logits = reward_model(**enc).logits
            scores.extend(logits[:, 0].float().cpu().tolist())
    finally:
        tokenizer.padding_side = padding_side
    return scores
