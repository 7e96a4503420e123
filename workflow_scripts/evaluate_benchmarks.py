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
from alignment_tax.rule_io import (  # noqa: E402
    limit_cpu_threads,
    random_states,
    rule_logging,
    seed_everything,
    set_random_states,
)

with rule_logging(snakemake) as logger:
    limit_cpu_threads()
    params = snakemake.params
    groups = list(params.tasks)  # the order of the outputs (eval_plan.benchmarked_groups)
    # toy world: the local task folder; paper configs: lm-eval's registry (task_dir None)
    task_dir = snakemake.input.get("tasks")
    for group in groups:  # before the model is loaded
        check_local_task_data(params.local_task_data[group])
    seed_everything(params.seed)
    model, tokenizer, recipe = load_variant(
        snakemake.input.recipe, dtype=params.dtype, **params.loading
    )
    # each category starts from the random state it would have in a job of its own
    after_loading = random_states()
    for group, scores_path, items_path in zip(
        groups, snakemake.output.scores, snakemake.output.per_item, strict=True
    ):
        set_random_states(after_loading)
        items = []  # per-item scores, for the bootstrap of the paper's claims
        result = evaluate_category(
            model,
            tokenizer,
            group,
            list(params.tasks[group]),
            task_dir=task_dir,
            local_task_data=dict(params.local_task_data[group]),  # real tasks, local files
            batch_size=params.batch_size,
            num_fewshot=params.num_fewshot,
            limit=params.limit,
            max_gen_toks=params.max_gen_toks,
            seed=params.seed,
            items=items,
        )
        result["variant"] = snakemake.wildcards.variant
        result["meta"] = recipe.get("meta", {})
        write_item_scores(items, items_path)
        write_json(scores_path, result)
        logger.info("%s %s: %s", snakemake.wildcards.variant, group, result["category"])
