"""Fit HMA's K part ratios (weights on theta0, mean alpha) on D_theta; write the recipe,
the fitted ratios and the training curve (loss and ratios per step)."""

import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.hma import FitSettings, fit_ratios, load_pair_for_fit  # noqa: E402
from alignment_tax.io import atomic_path, read_json, read_jsonl, write_json  # noqa: E402
from alignment_tax.merging import part_ranges  # noqa: E402
from alignment_tax.recipes import recipe_from_spec  # noqa: E402
from alignment_tax.rule_io import limit_cpu_threads, rule_logging, seed_everything  # noqa: E402

with rule_logging(snakemake) as logger:
    import pandas as pd
    import torch
    from transformers import AutoTokenizer

    limit_cpu_threads()
    p = snakemake.params
    spec = p.spec
    seed_everything(p.seed)
    num_layers = read_json(snakemake.input.pair)["num_layers"]
    ranges = part_ranges(num_layers, spec["K"], spec["part_boundaries"])
    rows = read_jsonl(snakemake.input.data)
    examples = [(row["prompt"], row["response"]) for row in rows]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, theta_state = load_pair_for_fit(
        spec["theta0"], spec["theta"], device=device, dtype=getattr(torch, p.dtype)
    )
    tokenizer = AutoTokenizer.from_pretrained(spec["theta"])
    settings = FitSettings(
        alpha=spec["meta"]["alpha"], lr=p.lr, epsilon=p.epsilon, scheduler=p.scheduler,
        warmup_ratio=p.warmup_ratio, epochs=p.epochs, batch_size=p.batch_size,
        max_length=p.block_size, l1_weight=p.l1_weight, seed=p.seed,
    )
    summary = {}
    ratios, curve = fit_ratios(model, theta_state, tokenizer, examples, ranges=ranges,
                               policies=spec["policies"], settings=settings, log=logger,
                               summary=summary)
    logger.info("fitted ratios (weight on theta0) %s, mean %.6f", ratios, sum(ratios) / len(ratios))
    fit = {"ratios": ratios, "alpha": settings.alpha, "K": spec["K"], "part_ranges": ranges,
           "initial_nll": curve[0]["nll"], "final_nll": curve[-1]["nll"], "steps": len(curve),
           "n_examples": len(examples), **summary}
    write_json(snakemake.output.ratios, fit)
    with atomic_path(snakemake.output.curve) as tmp:
        pd.DataFrame(curve).to_csv(tmp, index=False)
    recipe = recipe_from_spec(spec, num_layers, part_ratios=ratios,
                              extra_meta={"fit": {k: fit[k] for k in ("nll_at_alpha", "nll_fitted",
                                                                     "steps")}})
    write_json(snakemake.output.recipe, recipe)
