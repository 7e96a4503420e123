import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.benchmarks import evaluate_category  # noqa: E402
from alignment_tax.eval_models import load_variant  # noqa: E402
from alignment_tax.io import write_json  # noqa: E402
from alignment_tax.rule_io import limit_cpu_threads, rule_logging, seed_everything  # noqa: E402

with rule_logging(snakemake) as logger:
    limit_cpu_threads()
    params = snakemake.params
    seed_everything(params.seed)
    # toy world: the local task folder; paper configs: lm-eval's registry (task_dir None)
    task_dir = snakemake.input.get("tasks")
    model, tokenizer, recipe = load_variant(snakemake.input.recipe, dtype=params.dtype)
    result = evaluate_category(
        model,
        tokenizer,
        snakemake.wildcards.group,
        list(params.tasks),
        task_dir=task_dir,
        batch_size=params.batch_size,
        num_fewshot=params.num_fewshot,
        limit=params.limit,
        seed=params.seed,
    )
    result["variant"] = snakemake.wildcards.variant
    result["meta"] = recipe.get("meta", {})
    write_json(snakemake.output[0], result)
    logger.info("%s %s: %s", snakemake.wildcards.variant, snakemake.wildcards.group,
                result["category"])
