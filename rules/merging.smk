# Merged variants as recipes (results/<run>/recipes/<variant>.json, a few KB each); the
# evaluation rules build each variant's weights in memory from its recipe.
# Convention: alpha = weight on theta0 (SFT): merged = alpha * theta0 + (1 - alpha) * theta.
#
# One job per recipe: a recipe's params hold everything it depends on, so changing one
# grid (say merging.ma.alphas) rewrites only the recipes it changes, and only their
# evaluations rerun. The jobs are local and cheap (no torch import, JSON in and out).
# One HMA fit per (pair, K, lr, alpha) and one AdaMerging fit per (pair, mean alpha).
from alignment_tax.variants import (
    pair_dirs,
    pairs,
    recipe_spec,
    variant_ids,
)

MERGE_ID = r"[A-Za-z0-9_.\-]+"
# plain / ma / part_* / pattern_* recipes; HMA and AdaMerging recipes come from their fits
FIXED_VARIANT = r"(?!.*/(hma|adamerging)/)[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*"


localrules:
    check_merge_pair,
    make_recipe,
    merging_recipes,


rule check_merge_pair:
    input:
        theta0=lambda w: pair_dirs(config, w.pair)[0],
        theta=lambda w: pair_dirs(config, w.pair)[1],
    output:
        res("merging/{pair}/pair.json"),
    log:
        log("merging/check_pair/{pair}.log"),
    wildcard_constraints:
        pair=MERGE_ID,
    conda:
        "../envs/merging.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    script:
        "../workflow_scripts/check_merge_pair.py"


rule make_recipe:
    input:
        pair=lambda w: res(f"merging/{pair_of(w.variant)}/pair.json"),
    output:
        res("recipes/{variant}.json"),
    log:
        log("merging/make_recipe/{variant}.log"),
    wildcard_constraints:
        variant=FIXED_VARIANT,
    conda:
        "../envs/merging.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        spec=lambda w: recipe_spec(config, w.variant),
    script:
        "../workflow_scripts/make_recipe.py"


rule build_hma_dataset:
    input:
        unpack(hma_reward_model),
        theta=lambda w: pair_dirs(config, w.pair)[1],
        prompts=res("data/prompts/rlhf_train.jsonl"),
    output:
        res("merging/{pair}/hma_data.jsonl"),
    log:
        log("merging/build_hma_dataset/{pair}.log"),
    wildcard_constraints:
        pair=MERGE_ID,
    conda:
        "../envs/merging.yaml"
    threads: job_threads("generate")
    resources:
        **job_resources("generate"),
    params:
        n_prompts=config["merging"]["hma"].get("n_prompts"),
        n_top=config["merging"]["hma"]["n_top_samples"],
        n_train=config["merging"]["hma"]["n_train_samples"],
        max_new_tokens=config["rlhf"]["max_new_tokens"],
        temperature=config["rlhf"]["temperature"],
        batch_size=config["evaluation"]["reward"]["batch_size"],
        seed=config["seed"],
        dtype=lambda w: pair_dtype(w.pair),
    script:
        "../workflow_scripts/build_hma_dataset.py"


rule fit_hma:
    input:
        models=lambda w: pair_dirs(config, w.pair),
        pair=res("merging/{pair}/pair.json"),
        data=res("merging/{pair}/hma_data.jsonl"),
    output:
        recipe=res("recipes/{pair}/hma/K{K}/lr{lr}/alpha{alpha}.json"),
        ratios=res("merging/{pair}/hma/K{K}/lr{lr}/alpha{alpha}/ratios.json"),
        curve=res("merging/{pair}/hma/K{K}/lr{lr}/alpha{alpha}/curve.csv"),
    log:
        log("merging/fit_hma/{pair}/K{K}/lr{lr}/alpha{alpha}.log"),
    wildcard_constraints:
        pair=MERGE_ID,
        K=r"\d+",
        lr=r"[0-9.eE+\-]+",
        alpha=r"[0-9.]+",
    conda:
        "../envs/merging.yaml"
    threads: job_threads("hma")
    resources:
        **job_resources("hma"),
    params:
        spec=lambda w: recipe_spec(config, hma_id(w)),
        lr=lambda w: recipe_spec(config, hma_id(w))["meta"]["hyper"]["lr"],
        epsilon=config["merging"]["hma"]["epsilon"],
        scheduler=config["merging"]["hma"]["scheduler"],
        warmup_ratio=config["merging"]["hma"]["warmup_ratio"],
        epochs=config["merging"]["hma"]["epochs"],
        batch_size=config["merging"]["hma"]["batch_size"],
        block_size=config["merging"]["hma"]["block_size"],
        l1_weight=config["merging"]["hma"]["l1_weight"],
        seed=config["seed"],
        dtype=lambda w: pair_dtype(w.pair),
    script:
        "../workflow_scripts/fit_hma.py"


rule fit_adamerging:
    input:
        models=lambda w: pair_dirs(config, w.pair),
        pair=res("merging/{pair}/pair.json"),
        tasks=res("data/tasks"),
    output:
        recipe=res("recipes/{pair}/adamerging/alpha{alpha}.json"),
        curve=res("merging/{pair}/adamerging/alpha{alpha}/curve.csv"),
    log:
        log("merging/fit_adamerging/{pair}/alpha{alpha}.log"),
    wildcard_constraints:
        pair=MERGE_ID,
        alpha=r"[0-9.]+",
    conda:
        "../envs/merging.yaml"
    threads: job_threads("hma")
    resources:
        **job_resources("hma"),
    params:
        spec=lambda w: recipe_spec(config, f"{w.pair}/adamerging/alpha{w.alpha}"),
        reading_tasks=config["evaluation"]["benchmarks"]["reading"],
        n_train=config["merging"]["adamerging"]["n_train_samples"],
        lr=config["merging"]["adamerging"]["lr"],
        steps=config["merging"]["adamerging"]["steps"],
        batch_size=config["merging"]["adamerging"].get("batch_size", 8),
        max_length=config["merging"]["hma"]["block_size"],
        seed=config["seed"],
        dtype=lambda w: pair_dtype(w.pair),
    script:
        "../workflow_scripts/fit_adamerging.py"


rule export_recipe:
    input:
        recipe=res("recipes/{variant}.json"),
        models=lambda w: sorted(set(pair_dirs(config, pair_of(w.variant)))),
    output:
        directory(res("export/{variant}")),
    log:
        log("merging/export/{variant}.log"),
    wildcard_constraints:
        variant=r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*",
    conda:
        "../envs/merging.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        dtype=lambda w: pair_dtype(pair_of(w.variant)),
    script:
        "../workflow_scripts/export_recipe.py"


rule merging_recipes:
    """Every recipe of the configuration (fits HMA and AdaMerging on the way)."""
    input:
        [res(f"recipes/{v}.json") for v in variant_ids(config)],
