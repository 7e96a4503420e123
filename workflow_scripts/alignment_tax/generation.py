"""Batched sampling of responses from a causal LM, shared by RSF, HMA data and evaluation."""

from __future__ import annotations

import torch


@torch.no_grad()
def sample_responses(
    model,
    tokenizer,
    prompts: list[str],
    *,
    n: int = 1,
    max_new_tokens: int,
    temperature: float = 1.0,
    batch_size: int = 32,
    seed: int = 0,
    do_sample: bool = True,
) -> list[list[str]]:
    """Return ``n`` sampled continuations per prompt (decoded, special tokens stripped).

    Prompts are left-padded so every row continues from its own last token. The generator
    is seeded once, so the same model, prompts and seed give the same samples on the CPU.
    """
    if not prompts:
        return []
    if tokenizer.pad_token_id is None:
        raise ValueError("tokenizer has no pad token; set one before sampling")
    model.eval()
    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    expanded = [p for p in prompts for _ in range(n)]
    texts: list[str] = []
    try:
        for start in range(0, len(expanded), batch_size):
            chunk = expanded[start : start + batch_size]
            # default special tokens, as SFTTrainer tokenised the prompts in training (a BOS
            # for LLaMA tokenizers; nothing for the toy tokenizer)
            enc = tokenizer(chunk, return_tensors="pt", padding=True)
            enc = {k: v.to(device) for k, v in enc.items()}
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=do_sample,
                temperature=temperature if do_sample else None,
                top_k=0 if do_sample else None,
                top_p=1.0 if do_sample else None,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            new_tokens = out[:, enc["input_ids"].shape[1] :]
            texts.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = padding_side
    return [texts[i * n : (i + 1) * n] for i in range(len(prompts))]
