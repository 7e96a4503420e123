import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.alpaca_eval_judge import fetch_glm_data  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    source = fetch_glm_data(snakemake.params.dataset, snakemake.output[0],
                            local_file=getattr(snakemake.input, "local", None))
    logger.info("AlpacaEval length-control data from %s", source)
