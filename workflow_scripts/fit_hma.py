"""Fit HMA's K part ratios (weights on theta0, mean alpha) on D_theta's training rows for
one candidate (lr, epsilon); write the fitted ratios with the loss on D_theta's held-out
rows (rule select_hma picks the candidate by it) and the training curve (loss and ratios
per step)."""

import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.hma import FitSettings, fit_ratios, load_pair_for_fit  # noqa: E402
from alignment_tax.io import atomic_path, read_json, read_jsonl, write_json  # noqa: E402
from alignment_tax.loading import load_tokenizer  # noqa: E402
from alignment_tax.merging import part_ranges  # noqa: E402
from alignment_tax.rule_io import limit_cpu_threads, rule_logging, seed_everything  # noqa: E402

with rule_logging(snakemake) as logger:
    import pandas as pd
    import torch

    limit_cpu_threads()
    p = snakemake.params
    spec = p.spec
    seed_everything(p.seed)
    num_layers = read_json(snakemake.input.pair)["num_layers"]
    ranges = part_ranges(num_layers, spec["K"], spec["part_boundaries"])
    rows = read_jsonl(snakemake.input.data, required=("prompt", "response"))
    examples = [(row["prompt"], row["response"]) for row in rows]
    # scored after fitting only: fit_ratios never draws a batch from these rows
    heldout = [(row["prompt"], row["response"])
               for row in read_jsonl(snakemake.input.heldout, required=("prompt", "response"))]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, theta_state = load_pair_for_fit(
        spec["theta0"], spec["theta"], device=device, dtype=getattr(torch, p.dtype),
        **p.loading,
    )
    tokenizer = load_tokenizer(spec["theta"], **p.loading)
    settings = FitSettings(
        alpha=spec["meta"]["alpha"], lr=p.lr, epsilon=p.epsilon, scheduler=p.scheduler,
        warmup_ratio=p.warmup_ratio, epochs=p.epochs, batch_size=p.batch_size,
        max_length=p.block_size, l1_weight=p.l1_weight, seed=p.seed,
    )
    summary = {}
    ratios, curve = fit_ratios(model, theta_state, tokenizer, examples, ranges=ranges,
                               policies=spec["policies"], settings=settings, log=logger,
                               summary=summary, heldout=heldout)
    logger.info("fitted ratios (weight on theta0) %s, mean %.6f; held-out loss %.6f "
                "(at alpha: NLL %.6f)", ratios, sum(ratios) / len(ratios),
                summary["heldout_loss"], summary["heldout_nll_at_alpha"])
    fit = {"ratios": ratios, "alpha": settings.alpha, "K": spec["K"], "part_ranges": ranges,
           "lr": settings.lr, "epsilon": settings.epsilon, "l1_weight": settings.l1_weight,
           "initial_nll": curve[0]["nll"], "final_nll": curve[-1]["nll"], "steps": len(curve),
           "n_examples": len(examples), **summary}
    with atomic_path(snakemake.output.curve) as tmp:
        pd.DataFrame(curve).to_csv(tmp, index=False)
    write_json(snakemake.output.ratios, fit)
