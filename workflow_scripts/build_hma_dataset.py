"""D_theta for HMA: the RLHF policy's answers to RLHF training prompts (or merging.hma.prompts,
rendered by its chat template), best by reward, split into rows to fit on and held-out rows."""

import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.hma import build_dataset, chat_prompts  # noqa: E402
from alignment_tax.io import read_jsonl, write_jsonl  # noqa: E402
from alignment_tax.loading import (  # noqa: E402
    load_causal_lm,
    load_sequence_classifier,
    load_tokenizer,
)
from alignment_tax.rule_io import limit_cpu_threads, rule_logging, seed_everything  # noqa: E402

with rule_logging(snakemake) as logger:
    import torch

    limit_cpu_threads()
    p = snakemake.params
    seed_everything(p.seed)
    # checked before any model is loaded or any answer generated
    prompts = [row["prompt"] for row in read_jsonl(snakemake.input.prompts, required=("prompt",))]
    if p.n_prompts:
        prompts = prompts[: p.n_prompts]
    if len(prompts) < p.n_top:
        raise ValueError(
            f"{snakemake.input.prompts}: {len(prompts)} prompts (merging.hma.n_prompts = "
            f"{p.n_prompts}) for merging.hma.n_top_samples = {p.n_top}: D_theta must be "
            "drawn from the best n_top_samples of at least that many answers"
        )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = getattr(torch, p.dtype)
    trust = p.loading["trust_remote_code"]
    policy = load_causal_lm(snakemake.input.theta, dtype=dtype, trust_remote_code=trust,
                            what="theta").to(device)
    tokenizer = load_tokenizer(snakemake.input.theta, **p.loading)
    if p.chat_template:  # raw user messages (e.g. UltraFeedback): theta's own chat format
        prompts = chat_prompts(tokenizer, prompts)
        logger.info("prompts rendered by theta's chat template, e.g. %r", prompts[0])
    reward_model = rm_tokenizer = None
    if "reward_model" in snakemake.input.keys():
        reward_model = load_sequence_classifier(
            snakemake.input.reward_model, dtype=dtype, trust_remote_code=trust
        ).to(device)
        rm_tokenizer = load_tokenizer(snakemake.input.reward_model, **p.loading)
    else:
        logger.warning("no reward model: D_theta is drawn at random, not by reward")
    rows = build_dataset(
        policy, reward_model, tokenizer, prompts,
        n_top=p.n_top, n_train=p.n_train, max_new_tokens=p.max_new_tokens,
        temperature=p.temperature, batch_size=p.batch_size, seed=p.seed,
        rm_tokenizer=rm_tokenizer, n_heldout=p.n_heldout,
    )
    train = [r for r in rows if r["split"] == "train"]
    heldout = [r for r in rows if r["split"] == "heldout"]
    logger.info("D_theta: %d rows to fit on, %d held out, mean reward %.3f", len(train),
                len(heldout), sum(r["reward"] for r in rows) / len(rows))
    write_jsonl(snakemake.output.heldout, heldout)
    write_jsonl(snakemake.output.data, train)
