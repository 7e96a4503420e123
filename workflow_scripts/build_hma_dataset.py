"""D_theta for HMA: the RLHF policy's answers to RLHF training prompts, best by reward."""

import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.hma import build_dataset  # noqa: E402
from alignment_tax.io import read_jsonl, write_jsonl  # noqa: E402
from alignment_tax.rule_io import limit_cpu_threads, rule_logging, seed_everything  # noqa: E402

with rule_logging(snakemake) as logger:
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    limit_cpu_threads()
    p = snakemake.params
    seed_everything(p.seed)
    prompts = [row["prompt"] for row in read_jsonl(snakemake.input.prompts)]
    if p.n_prompts:
        prompts = prompts[: p.n_prompts]
    if len(prompts) < p.n_top:
        logger.warning("only %d prompts for n_top_samples=%d", len(prompts), p.n_top)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = getattr(torch, p.dtype)
    policy = AutoModelForCausalLM.from_pretrained(snakemake.input.theta, dtype=dtype).to(device)
    tokenizer = AutoTokenizer.from_pretrained(snakemake.input.theta)
    reward_model = rm_tokenizer = None
    if "reward_model" in snakemake.input.keys():
        reward_model = AutoModelForSequenceClassification.from_pretrained(
            snakemake.input.reward_model, dtype=dtype
        ).to(device)
        rm_tokenizer = AutoTokenizer.from_pretrained(snakemake.input.reward_model)
    else:
        logger.warning("no reward model: D_theta is drawn at random, not by reward")
    rows = build_dataset(
        policy, reward_model, tokenizer, prompts,
        n_top=p.n_top, n_train=p.n_train, max_new_tokens=p.max_new_tokens,
        temperature=p.temperature, batch_size=p.batch_size, seed=p.seed,
        rm_tokenizer=rm_tokenizer,
    )
    logger.info("D_theta: %d rows, mean reward %.3f", len(rows),
                sum(r["reward"] for r in rows) / len(rows))
    write_jsonl(snakemake.output[0], rows)
