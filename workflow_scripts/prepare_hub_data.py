import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.hub_data import prepare_paper_data  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake):
    prepare_paper_data(
        snakemake.params.datasets, dict(snakemake.output.items()), snakemake.params.seed
    )
