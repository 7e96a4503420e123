import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.pairrm import build_tiny_pairrm  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    summary = build_tiny_pairrm(
        snakemake.input.tokenizer, snakemake.output[0], **snakemake.params.tiny
    )
    logger.info("tiny PairRM in %s: %s", snakemake.output[0], summary)
