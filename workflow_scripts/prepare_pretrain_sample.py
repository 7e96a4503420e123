import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.baselines import write_pretrain_sample  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake):
    write_pretrain_sample(snakemake.params.spec, snakemake.output[0], seed=snakemake.params.seed)
