import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from functools import partial  # noqa: E402

from alignment_tax.io import read_jsonl, write_json  # noqa: E402
from alignment_tax.pairrm import evaluate_pairrm, load_pairrm, pairrm_logits  # noqa: E402
from alignment_tax.rule_io import limit_cpu_threads, rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    limit_cpu_threads()
    model, tokenizer = load_pairrm(snakemake.input.pairrm)
    compare = partial(pairrm_logits, model, tokenizer, batch_size=snakemake.params.batch_size)
    result = evaluate_pairrm(read_jsonl(snakemake.input.answers), compare)
    result["variant"] = snakemake.wildcards.variant
    result["pairrm_model"] = snakemake.params.model
    write_json(snakemake.output[0], result)
    logger.info("%s: PairRM win rate %s", snakemake.wildcards.variant, result["win_rate"])
