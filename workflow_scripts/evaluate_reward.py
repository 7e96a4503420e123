import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.eval_models import load_reward_model, load_variant  # noqa: E402
from alignment_tax.io import write_json  # noqa: E402
from alignment_tax.reward_eval import evaluate_reward, read_eval_prompts  # noqa: E402
from alignment_tax.rule_io import limit_cpu_threads, rule_logging, seed_everything  # noqa: E402

with rule_logging(snakemake) as logger:
    limit_cpu_threads()
    params = snakemake.params
    seed_everything(params.seed)
    # bad prompts fail here, before the reward model and the variant are loaded
    rows = read_eval_prompts(snakemake.input.prompts, params.n_prompts)
    hidden_reward = None
    if params.hidden_reward:  # toy world: also score with the hidden true reward
        from alignment_tax.toy_reward import hidden_reward
    reward_model, reward_tokenizer = load_reward_model(
        snakemake.input.reward_model, dtype=params.dtype, **params.loading
    )
    model, tokenizer, recipe = load_variant(
        snakemake.input.recipe, dtype=params.dtype, **params.loading
    )
    result = evaluate_reward(
        model,
        tokenizer,
        reward_model,
        reward_tokenizer,
        rows,
        n_prompts=params.n_prompts,
        max_new_tokens=params.max_new_tokens,
        temperature=params.temperature,
        batch_size=params.batch_size,
        seed=params.seed,
        reward_max_length=params.reward_max_length,
        hidden_reward=hidden_reward,
    )
    result["variant"] = snakemake.wildcards.variant
    result["meta"] = recipe.get("meta", {})
    write_json(snakemake.output[0], result)
    logger.info("%s: reward %s", snakemake.wildcards.variant, result["reward"])
