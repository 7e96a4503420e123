import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.rule_io import rule_logging  # noqa: E402
from alignment_tax.tokenizer_training import build_tokenizer  # noqa: E402

with rule_logging(snakemake) as logger:
    tokenizer = build_tokenizer(
        snakemake.input.pretrain,
        snakemake.input.sharegpt,
        snakemake.output[0],
        snakemake.params.vocab_size,
    )
    logger.info("tokenizer: %d tokens, saved to %s", len(tokenizer), snakemake.output[0])
