import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.alpaca_eval_judge import evaluate_gpt4  # noqa: E402
from alignment_tax.io import read_jsonl, write_json  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    params = snakemake.params
    # the key is read from the environment inside evaluate_gpt4 and never logged or written
    result = evaluate_gpt4(
        read_jsonl(snakemake.input.answers),
        variant=snakemake.wildcards.variant,
        glm_data=snakemake.input.glm_data,
        cache_root=params.cache_root,
        annotator=params.annotator,
        model=params.model,
        base_url=params.base_url,
        api_key_env=params.api_key_env,
        max_concurrency=params.max_concurrency,
        loopback=params.loopback,
    )
    result["variant"] = snakemake.wildcards.variant
    write_json(snakemake.output[0], result)
    if result["skipped"]:
        logger.info("%s: %s", snakemake.wildcards.variant, result["reason"])
    else:
        if result["loopback"]:
            logger.warning("judged by the %s", result["judge"])
        logger.info("%s: AlpacaEval 2.0 win rate %.2f%%, length-controlled %.2f%% (n = %d)",
                    snakemake.wildcards.variant, result["win_rate"]["mean"],
                    result["length_controlled_win_rate"]["mean"], result["win_rate"]["n"])
