import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.benchmarks import (  # noqa: E402
    check_local_task_data,
    evaluate_category,
    write_item_scores,
)
from alignment_tax.eval_models import load_variant  # noqa: E402
from alignment_tax.io import write_json  # noqa: E402
from alignment_tax.rule_io import limit_cpu_threads, rule_logging, seed_everything  # noqa: E402

with rule_logging(snakemake) as logger:
    limit_cpu_threads()
    params = snakemake.params
    seed_everything(params.seed)
    # toy world: the local task folder; paper configs: lm-eval's registry (task_dir None)
    task_dir = snakemake.input.get("tasks")
    check_local_task_data(params.local_task_data)  # before the model is loaded
    model, tokenizer, recipe = load_variant(
        snakemake.input.recipe, dtype=params.dtype, **params.loading
    )
    items = []  # per-item scores, for the bootstrap of the paper's claims
    result = evaluate_category(
        model,
        tokenizer,
        snakemake.wildcards.group,
        list(params.tasks),
        task_dir=task_dir,
        local_task_data=dict(params.local_task_data),  # real tasks on local files, if any
        batch_size=params.batch_size,
        num_fewshot=params.num_fewshot,
        limit=params.limit,
        max_gen_toks=params.max_gen_toks,
        seed=params.seed,
        items=items,
    )
    result["variant"] = snakemake.wildcards.variant
    result["meta"] = recipe.get("meta", {})
    write_item_scores(items, snakemake.output.per_item)
    write_json(snakemake.output.scores, result)
    logger.info("%s %s: %s", snakemake.wildcards.variant, snakemake.wildcards.group,
                result["category"])
