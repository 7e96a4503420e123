"""Pick an HMA variant's candidate fit (lr, epsilon) of least held-out loss on D_theta;
write its recipe and, next to it, the selection (every candidate's held-out loss, the
chosen one, its ratios)."""

import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.hma_selection import select_candidate, selection_record  # noqa: E402
from alignment_tax.io import read_json, write_json  # noqa: E402
from alignment_tax.recipes import recipe_from_spec  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    p = snakemake.params
    fits = [read_json(path) for path in snakemake.input.fits]
    for path, fit, want in zip(snakemake.input.fits, fits, p.candidates, strict=True):
        if (fit["lr"], fit["epsilon"], fit["alpha"]) != (want["lr"], want["epsilon"],
                                                          p.spec["meta"]["alpha"]):
            raise ValueError(f"{path}: fitted at lr {fit['lr']}, epsilon {fit['epsilon']}, "
                             f"alpha {fit['alpha']}; expected {want} at alpha "
                             f"{p.spec['meta']['alpha']}")
    chosen = select_candidate(fits)
    selection = selection_record(fits, chosen)
    for fit in fits:
        logger.info("lr %g epsilon %g: held-out loss %.6f, ratios %s", fit["lr"],
                    fit["epsilon"], fit["heldout_loss"], [round(r, 4) for r in fit["ratios"]])
    logger.info("chosen: lr %g, epsilon %g", selection["lr"], selection["epsilon"])
    spec = dict(p.spec)
    spec["meta"] = {**spec["meta"], "hyper": {**spec["meta"]["hyper"], "lr": selection["lr"],
                                              "epsilon": selection["epsilon"]}}
    num_layers = read_json(snakemake.input.pair)["num_layers"]
    best = fits[chosen]
    recipe = recipe_from_spec(spec, num_layers, part_ratios=best["ratios"], extra_meta={
        "fit": {k: best[k] for k in ("lr", "epsilon", "heldout_loss", "nll_at_alpha",
                                     "nll_fitted", "steps")}})
    write_json(snakemake.output.selection, selection)
    write_json(snakemake.output.recipe, recipe)
