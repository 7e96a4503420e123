import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.io import read_jsonl, write_json  # noqa: E402
from alignment_tax.pairrm import evaluate_with_pairrm  # noqa: E402
from alignment_tax.rule_io import limit_cpu_threads, rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    limit_cpu_threads()
    result = evaluate_with_pairrm(
        snakemake.input.pairrm,
        read_jsonl(snakemake.input.answers),
        batch_size=snakemake.params.batch_size,
    )
    result["variant"] = snakemake.wildcards.variant
    result["pairrm_model"] = snakemake.params.model
    write_json(snakemake.output[0], result)
    logger.info("%s: PairRM win rate %s", snakemake.wildcards.variant, result["win_rate"])
