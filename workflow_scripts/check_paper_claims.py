import sys

sys.path.insert(0, snakemake.scriptdir)

import time  # noqa: E402

from alignment_tax.artifact_catalogue import artifacts, load_wide_tables  # noqa: E402
from alignment_tax.paper_claims import (  # noqa: E402
    BootstrapSettings,
    load_seed_items,
    paper_claims,
    write_claims,
)
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    params = snakemake.params
    tables = load_wide_tables(dict(zip(params.categories, snakemake.input.tables, strict=True)))
    seeds = [load_seed_items(root, params.variants, params.categories)
             for root in params.eval_roots]
    settings = BootstrapSettings.from_config(
        {"paper_claims": params.bootstrap, "seed": params.seed})
    start = time.perf_counter()
    claims = paper_claims(artifacts(params.settings), tables, params.artifacts, seeds=seeds,
                          settings=settings)
    logger.info("bootstrap (%s, %d seeds): %.1f s", settings.label(), len(seeds),
                time.perf_counter() - start)
    write_claims(claims, snakemake.output[0])
    for verdict, n in claims["verdict"].value_counts().items():
        logger.info("%s: %d", verdict, n)
