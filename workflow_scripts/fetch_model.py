import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.hub_data import fetch_model  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake):
    fetch_model(snakemake.params.hub_id, snakemake.params.revision, snakemake.output[0])
