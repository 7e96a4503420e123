"""Write the recipe (a few-KB JSON) of a plain, MA, part-wise or pattern variant."""

import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.io import read_json, write_json  # noqa: E402
from alignment_tax.recipes import recipe_from_spec  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    num_layers = read_json(snakemake.input.pair)["num_layers"]
    recipe = recipe_from_spec(snakemake.params.spec, num_layers)
    logger.info("%s: layer ratios (weight on theta0) %s", recipe["id"], recipe["layer_ratios"])
    write_json(snakemake.output[0], recipe)
