import sys

sys.path.insert(0, snakemake.scriptdir)

from pathlib import Path  # noqa: E402

from alignment_tax.rule_io import rule_logging  # noqa: E402
from alignment_tax.tables import long_table, write_tables  # noqa: E402

with rule_logging(snakemake) as logger:
    params = snakemake.params
    recipes = dict(zip(params.variants, snakemake.input.recipes, strict=True))
    # results/<run>/tables/ -> results/<run>/eval/ (docs/CONTRACTS.md)
    eval_root = Path(snakemake.output.long_csv).parent.parent / "eval"
    long = long_table(
        snakemake.input.evals,
        eval_root=eval_root,
        recipes=recipes,
        run=params.run,
        model=params.model,
        public_pairs=params.public_pairs,
    )
    written = write_tables(long, Path(snakemake.output.long_csv).parent, params.categories)
    logger.info("%d rows; wrote %s", len(long), ", ".join(map(str, written.values())))
