import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.gpt4_judge import evaluate_gpt4  # noqa: E402
from alignment_tax.io import read_jsonl, write_json  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    # the key is read from the environment inside evaluate_gpt4 and never logged or written
    result = evaluate_gpt4(
        read_jsonl(snakemake.input.answers),
        model=snakemake.params.model,
        api_key_env=snakemake.params.api_key_env,
    )
    result["variant"] = snakemake.wildcards.variant
    write_json(snakemake.output[0], result)
    logger.info("%s: GPT-4 judge %s", snakemake.wildcards.variant,
                result.get("win_rate", result.get("reason")))
