"""Write any recipe's merged model as a standard Hugging Face checkpoint folder."""

import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.recipes import ModelCache, export_recipe  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    import torch

    loading = snakemake.params.loading
    cache = ModelCache(dtype=getattr(torch, snakemake.params.dtype), **loading)
    export_recipe(snakemake.input.recipe, snakemake.output[0], cache, **loading)
    logger.info("exported %s to %s", snakemake.input.recipe, snakemake.output[0])
