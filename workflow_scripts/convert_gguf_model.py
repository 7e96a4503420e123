import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.gguf_model import convert_gguf  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    summary = convert_gguf(snakemake.input.gguf, snakemake.output[0])
    logger.info("theta_pre from %s: %s", snakemake.input.gguf, summary)
