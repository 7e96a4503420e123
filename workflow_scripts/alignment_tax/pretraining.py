"""Pretraining theta_pre: a tiny LlamaForCausalLM trained from scratch on the toy corpus.

A plain torch loop rather than HF Trainer, because the batches follow a schedule Trainer
has no notion of: each batch mixes knowledge / reading / translation documents in fixed
proportions, and for the first ``curriculum_steps`` steps the reading documents come only
from the easy pool (1-2 people, one fact each). A ~1M-parameter model needs both (and one
document per row, padded per batch, no packing) to learn to copy answer spans; without
them reading F1 stays near 0.1 (shared/reference/TOYWORLD.md). Measured here, seed 1:
batch 32 gave reading F1 0.07-0.7 and BLEU 50-100 from run to run; batch 64 was stable.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path

import torch

from alignment_tax.io import atomic_dir, read_jsonl

logger = logging.getLogger(__name__)

PRETRAIN_DEFAULTS = {
    "steps": 1000,
    "batch_size": 64,
    "lr": 2.0e-3,
    "warmup_steps": 50,
    "weight_decay": 0.0,
    "curriculum_steps": 300,
    "max_length": 128,
}
KINDS = ("knowledge", "reading", "translation")


def build_model(tokenizer, architecture: Mapping, seed: int):
    """A freshly initialised LlamaForCausalLM sized by ``toy_world.architecture``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=architecture["hidden_size"],
        num_hidden_layers=architecture["num_hidden_layers"],
        num_attention_heads=architecture["num_attention_heads"],
        num_key_value_heads=architecture["num_attention_heads"],
        intermediate_size=architecture["intermediate_size"],
        max_position_embeddings=architecture["max_position_embeddings"],
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(
            "toy_world.architecture.hidden_size must be divisible by num_attention_heads"
        )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def encode_corpus(rows: list[dict], tokenizer, max_length: int) -> dict[str, list[list[int]]]:
    """Token ids (document + EOS, truncated) by pool: each kind, plus ``reading_easy``."""
    texts = [row["text"] for row in rows]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    pools: dict[str, list[list[int]]] = {kind: [] for kind in (*KINDS, "reading_easy")}
    for row, doc in zip(rows, ids, strict=True):
        if row.get("kind") not in KINDS:
            raise ValueError(f"pretrain corpus: row kind {row.get('kind')!r} not in {KINDS}")
        doc = (doc + [tokenizer.eos_token_id])[:max_length]
        pools[row["kind"]].append(doc)
        if row["kind"] == "reading" and row.get("easy"):
            pools["reading_easy"].append(doc)
    for kind in KINDS:
        if not pools[kind]:
            raise ValueError(f"pretrain corpus has no {kind!r} documents")
    return pools


def batch_plan(
    step: int, batch_size: int, mix: Mapping[str, float], curriculum_steps: int
) -> list[str]:
    """Pool name for each row of batch ``step``: fixed shares of each kind (rounded, the
    remainder to reading), reading from the easy pool during the curriculum."""
    total = sum(mix.values())
    counts = {kind: int(batch_size * mix[kind] / total) for kind in KINDS}
    counts["reading"] += batch_size - sum(counts.values())
    reading_pool = "reading_easy" if step < curriculum_steps else "reading"
    return [
        kind if kind != "reading" else reading_pool for kind in KINDS for _ in range(counts[kind])
    ]


def collate(docs: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(d) for d in docs)
    input_ids = torch.full((len(docs), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(docs), width), dtype=torch.long)
    for i, doc in enumerate(docs):
        input_ids[i, : len(doc)] = torch.tensor(doc)
        attention[i, : len(doc)] = 1
    labels = input_ids.masked_fill(attention == 0, -100)
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def split_by_length(docs: list[list[int]]) -> list[list[list[int]]]:
    """Sort by length and cut in two where the padded size (rows x longest) is smallest."""
    docs = sorted(docs, key=len)
    lengths = [len(d) for d in docs]
    n = len(docs)

    def padded(k: int) -> int:
        return k * lengths[k - 1] + (n - k) * lengths[-1] if k else n * lengths[-1]

    best = min(range(n), key=padded)
    return [group for group in (docs[:best], docs[best:]) if group]


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def pretrain(
    corpus_jsonl: str | Path,
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    architecture: Mapping,
    train: Mapping,
    mix: Mapping[str, float],
    seed: int,
    threads: int | None = None,
) -> dict:
    """Train theta_pre and save it (safetensors + tokenizer + pretrain_log.json) to out_dir."""
    from transformers import AutoTokenizer

    unknown = set(train) - set(PRETRAIN_DEFAULTS)
    if unknown:
        raise ValueError(f"toy_world.pretrain: unknown keys {sorted(unknown)}")
    cfg = {**PRETRAIN_DEFAULTS, **train}
    if set(mix) != set(KINDS):
        raise ValueError(f"toy_world.task_mix needs weights for {KINDS}, got {dict(mix)}")
    if threads:
        torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    if tokenizer.eos_token_id is None or tokenizer.pad_token_id is None:
        raise ValueError(f"tokenizer in {tokenizer_dir} needs eos and pad tokens")
    pools = encode_corpus(read_jsonl(corpus_jsonl), tokenizer, cfg["max_length"])
    if cfg["curriculum_steps"] and not pools["reading_easy"]:
        raise ValueError(
            "toy_world.pretrain.curriculum_steps > 0 but the corpus has no easy reading docs"
        )

    model = build_model(tokenizer, architecture, seed)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("model: %d parameters; pools: %s", n_params, {k: len(v) for k, v in pools.items()})
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg["lr"], betas=(0.9, 0.95), weight_decay=cfg["weight_decay"]
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, cfg["warmup_steps"], cfg["steps"])
    )
    gen = torch.Generator().manual_seed(seed)
    history = []
    start = time.time()
    model.train()
    for step in range(cfg["steps"]):
        plan = batch_plan(step, cfg["batch_size"], mix, cfg["curriculum_steps"])
        docs = [
            pools[name][int(torch.randint(len(pools[name]), (1,), generator=gen))] for name in plan
        ]
        # Two length groups instead of one padded batch: ~25% fewer padded positions.
        # Each group's mean loss is weighted by its share of predicted tokens, so the
        # gradient is that of the whole batch's mean token loss.
        n_total = sum(len(d) - 1 for d in docs)
        loss = torch.zeros(())
        for group in split_by_length(docs):
            n_group = sum(len(d) - 1 for d in group)
            part = model(**collate(group, tokenizer.pad_token_id)).loss * (n_group / n_total)
            part.backward()
            loss += part.detach()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 50 == 0 or step == cfg["steps"] - 1:
            history.append(
                {
                    "step": step,
                    "loss": round(loss.item(), 4),
                    "seconds": round(time.time() - start, 1),
                }
            )
            logger.info("step %d loss %.4f (%.0f s)", step, loss.item(), time.time() - start)

    model.eval()
    summary = {
        "parameters": n_params,
        "steps": cfg["steps"],
        "final_loss": history[-1]["loss"],
        "train_seconds": round(time.time() - start, 1),
        "history": history,
        "config": cfg,
        "seed": seed,
    }
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (Path(tmp) / "pretrain_log.json").write_text(
            json.dumps(summary, indent=2) + "\n", encoding="utf-8"
        )
    return summary
