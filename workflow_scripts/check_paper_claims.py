import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.figures import artifacts, load_wide_tables  # noqa: E402
from alignment_tax.paper_claims import paper_claims, write_claims  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    params = snakemake.params
    tables = load_wide_tables(dict(zip(params.categories, snakemake.input.tables, strict=True)))
    claims = paper_claims(artifacts(params.settings), tables, params.artifacts)
    write_claims(claims, snakemake.output[0])
    for verdict, n in claims["verdict"].value_counts().items():
        logger.info("%s: %d", verdict, n)
