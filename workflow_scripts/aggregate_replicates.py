import sys

sys.path.insert(0, snakemake.scriptdir)

import pandas as pd  # noqa: E402
from alignment_tax.io import atomic_path  # noqa: E402
from alignment_tax.replicates import aggregate_wide_tables  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    tables = [pd.read_csv(path) for path in snakemake.input]
    aggregated = aggregate_wide_tables(tables, snakemake.params.seeds)
    with atomic_path(snakemake.output[0]) as tmp:
        aggregated.to_csv(tmp, index=False)
    logger.info("%d variants over seeds %s", len(aggregated), snakemake.params.seeds)
