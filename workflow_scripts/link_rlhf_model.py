import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.rule_io import rule_logging  # noqa: E402
from alignment_tax.training_common import link_representative  # noqa: E402

# The representative DPO/PPO model is the variant trained with the config's beta/kl_coef:
# a hard-linked copy, not a second training run.
with rule_logging(snakemake):
    link_representative(snakemake.input[0], snakemake.output[0])
