"""Fit AdaMerging's layer-wise ratios (weights on theta0, mean held) on labelled reading
comprehension items that the evaluation never sees (rule make_adamerging_data); write the
recipe and the training curve."""

import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.adamerging import fit_layer_ratios, load_qa_pairs  # noqa: E402
from alignment_tax.hma import load_pair_for_fit  # noqa: E402
from alignment_tax.io import atomic_path, read_json, write_json  # noqa: E402
from alignment_tax.loading import load_tokenizer  # noqa: E402
from alignment_tax.recipes import recipe_from_spec  # noqa: E402
from alignment_tax.rule_io import limit_cpu_threads, rule_logging, seed_everything  # noqa: E402

with rule_logging(snakemake) as logger:
    import pandas as pd
    import torch

    limit_cpu_threads()
    p = snakemake.params
    spec = p.spec
    seed_everything(p.seed)
    num_layers = read_json(snakemake.input.pair)["num_layers"]
    examples = load_qa_pairs([snakemake.input.fit_data], n=p.n_train, seed=p.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, theta_state = load_pair_for_fit(
        spec["theta0"], spec["theta"], device=device, dtype=getattr(torch, p.dtype),
        **p.loading,
    )
    tokenizer = load_tokenizer(spec["theta"], **p.loading)
    summary = {}
    ratios, curve = fit_layer_ratios(
        model, theta_state, tokenizer, examples, mean_alpha=spec["meta"]["alpha"], lr=p.lr,
        steps=p.steps, batch_size=p.batch_size, max_length=p.max_length,
        policies=spec["policies"], seed=p.seed, log=logger, summary=summary,
    )
    logger.info("layer ratios (weight on theta0) %s", ratios)
    with atomic_path(snakemake.output.curve) as tmp:
        pd.DataFrame(curve).to_csv(tmp, index=False)
    recipe = recipe_from_spec(spec, num_layers, part_ratios=ratios,
                              extra_meta={"fit": {**summary, "steps": len(curve)}})
    write_json(snakemake.output.recipe, recipe)
