import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.eval_models import load_variant  # noqa: E402
from alignment_tax.io import read_jsonl, write_jsonl  # noqa: E402
from alignment_tax.pairrm import generate_answers  # noqa: E402
from alignment_tax.rule_io import limit_cpu_threads, rule_logging, seed_everything  # noqa: E402

with rule_logging(snakemake) as logger:
    limit_cpu_threads()
    params = snakemake.params
    seed_everything(params.seed)
    instructions = read_jsonl(snakemake.input.instructions, required=("instruction",))
    model, tokenizer, _ = load_variant(snakemake.input.recipe, dtype=params.dtype,
                                       **params.loading)
    answers = generate_answers(
        model,
        tokenizer,
        instructions,
        max_new_tokens=params.max_new_tokens,
        temperature=params.temperature,
        batch_size=params.batch_size,
        seed=params.seed,
    )
    write_jsonl(snakemake.output[0], answers)
    logger.info("%s: %d answers", snakemake.wildcards.variant, len(answers))
