"""Check that theta0 and theta of a pair can be merged; record the layer count."""

import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.io import write_json  # noqa: E402
from alignment_tax.merging import validate_pair  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    theta0, theta = snakemake.input.theta0, snakemake.input.theta
    config = validate_pair(theta0, theta, **snakemake.params.loading)
    logger.info("pair %s: %s and %s can be merged", snakemake.wildcards.pair, theta0, theta)
    write_json(snakemake.output[0], {
        "pair": snakemake.wildcards.pair,
        "theta0": theta0,
        "theta": theta,
        "num_layers": config["num_hidden_layers"],
        "model_type": config.get("model_type"),
    })
