import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.io import write_jsonl  # noqa: E402
from alignment_tax.pairrm import alpaca_eval_records, fetch_alpaca_eval  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    rows = alpaca_eval_records(fetch_alpaca_eval(snakemake.params.dataset),
                               snakemake.params.n_prompts)
    write_jsonl(snakemake.output[0], rows)
    logger.info("wrote %d AlpacaEval instructions", len(rows))
