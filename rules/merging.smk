# Merged variants as recipes (results/<run>/recipes/<variant>.json, a few KB each); the
# evaluation rules build each variant's weights in memory from its recipe.
# Convention: alpha = weight on theta0 (SFT): merged = alpha * theta0 + (1 - alpha) * theta.
#
# One job per recipe: a recipe's params hold everything it depends on, so changing one
# grid (say merging.ma.alphas) rewrites only the recipes it changes, and only their
# evaluations rerun. The jobs are local and cheap (no torch import, JSON in and out).
# HMA: one fit per (pair, K, alpha) and candidate (lr, epsilon), then select_hma picks the
# candidate of least held-out loss on D_theta and writes the variant's recipe; the other
# candidates are never evaluated. One AdaMerging fit per (pair, mean alpha).
from alignment_tax.loading import loading_options
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
    select_hma,


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
    params:
        loading=lambda w: loading_options(config, w.pair),
        code=code_fingerprint("check_merge_pair.py", env="merging"),
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
        code=code_fingerprint("make_recipe.py", env="merging"),
    script:
        "../workflow_scripts/make_recipe.py"


rule prepare_hma_prompts:
    input:
        unpack(hma_prompt_source),
    output:
        res("data/prompts/hma_prompts.jsonl"),
    log:
        log("merging/prepare_hma_prompts.log"),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        spec=config["merging"]["hma"]["prompts"],
        n_prompts=config["merging"]["hma"]["n_prompts"],
        seed=config["seed"],
        code=code_fingerprint("prepare_hma_prompts.py", env="data"),
    script:
        "../workflow_scripts/prepare_hma_prompts.py"


rule build_hma_dataset:
    input:
        unpack(hma_reward_model),
        unpack(hma_prompt_inputs),
        theta=lambda w: pair_dirs(config, w.pair)[1],
    output:
        data=res("merging/{pair}/hma_data.jsonl"),
        heldout=res("merging/{pair}/hma_heldout.jsonl"),
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
        n_heldout=config["merging"]["hma"]["n_heldout_samples"],
        chat_template=(config["merging"]["hma"]["prompts"] or {}).get(
            "chat_template", False
        ),
        max_new_tokens=hma_sampling("max_new_tokens"),
        temperature=hma_sampling("temperature"),
        batch_size=config["evaluation"]["reward"]["batch_size"],
        seed=config["seed"],
        dtype=lambda w: pair_dtype(w.pair),
        loading=lambda w: loading_options(config, w.pair),
        code=code_fingerprint("build_hma_dataset.py", env="merging"),
    script:
        "../workflow_scripts/build_hma_dataset.py"


rule fit_hma:
    input:
        models=lambda w: pair_dirs(config, w.pair),
        pair=res("merging/{pair}/pair.json"),
        data=res("merging/{pair}/hma_data.jsonl"),
        heldout=res("merging/{pair}/hma_heldout.jsonl"),
    output:
        ratios=res("merging/{pair}/hma/K{K}/alpha{alpha}/{candidate}/ratios.json"),
        curve=res("merging/{pair}/hma/K{K}/alpha{alpha}/{candidate}/curve.csv"),
    log:
        log("merging/fit_hma/{pair}/K{K}/alpha{alpha}/{candidate}.log"),
    wildcard_constraints:
        pair=MERGE_ID,
        K=r"\d+",
        alpha=r"[0-9.]+",
        candidate=r"lr[0-9.eE+\-]+_eps[0-9.eE+\-]+",
    conda:
        "../envs/merging.yaml"
    threads: job_threads("hma")
    resources:
        **job_resources("hma"),
    params:
        spec=lambda w: recipe_spec(config, hma_id(w)),
        lr=lambda w: hma_candidate(w)["lr"],
        epsilon=lambda w: hma_candidate(w)["epsilon"],
        scheduler=config["merging"]["hma"]["scheduler"],
        warmup_ratio=config["merging"]["hma"]["warmup_ratio"],
        epochs=config["merging"]["hma"]["epochs"],
        batch_size=config["merging"]["hma"]["batch_size"],
        block_size=config["merging"]["hma"]["block_size"],
        l1_weight=config["merging"]["hma"]["l1_weight"],
        seed=config["seed"],
        dtype=lambda w: pair_dtype(w.pair),
        loading=lambda w: loading_options(config, w.pair),
        code=code_fingerprint("fit_hma.py", env="merging"),
    script:
        "../workflow_scripts/fit_hma.py"


rule select_hma:
    input:
        pair=res("merging/{pair}/pair.json"),
        fits=hma_candidate_fits,
    output:
        recipe=res("recipes/{pair}/hma/K{K}/alpha{alpha}.json"),
        selection=res("recipes/{pair}/hma/K{K}/alpha{alpha}.selection.json"),
    log:
        log("merging/select_hma/{pair}/K{K}/alpha{alpha}.log"),
    wildcard_constraints:
        pair=MERGE_ID,
        K=r"\d+",
        alpha=r"[0-9.]+",
    conda:
        "../envs/merging.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        spec=lambda w: recipe_spec(config, hma_id(w)),
        candidates=lambda w: [
            {"lr": lr, "epsilon": eps} for lr, eps in hma_candidates(config, w.pair)
        ],
        code=code_fingerprint("select_hma.py", env="merging"),
    script:
        "../workflow_scripts/select_hma.py"


# AdaMerging fits on labelled reading items none of which is evaluated, so fig15's Reading
# scores are measured on items the fit never saw; both rules write the same rows
# {"id", "task", "prompt", "answer"} (docs/CONTRACTS.md).
if config["stages"]["toy_world"]:

    # toy world: new items drawn from the world's generator, the benchmark's prompts
    # excluded (alignment_tax.adamerging.reading_fit_rows)
    rule make_adamerging_data:
        input:
            world=res("data/world.json"),
            tasks=res("data/tasks"),
        output:
            res("data/adamerging/reading_fit.jsonl"),
        log:
            log("merging/make_adamerging_data.log"),
        conda:
            "../envs/data.yaml"
        threads: 1
        resources:
            **job_resources("cpu"),
        params:
            world=lambda w: {
                k: v
                for k, v in config["toy_world"].items()
                if k
                not in ("architecture", "pretrain", "pretrain_threads", "tokenizer")
            },
            seed=config["seed"],
            reading_tasks=config["evaluation"]["benchmarks"]["reading"],
            n=lambda w: config["merging"]["adamerging"]["n_train_samples"],
            code=code_fingerprint("make_adamerging_data.py", env="data"),
        script:
            "../workflow_scripts/make_adamerging_data.py"

else:

    # paper's path: SQuAD v2's train split (datasets.squadv2_train: the hub copy or a local
    # file in its schema) with lm-eval's squadv2 prompt and target; lm-eval evaluates the
    # validation split, and local copies of the evaluated items are checked for overlap
    # (alignment_tax.adamerging_squadv2.squadv2_fit_rows)
    rule make_adamerging_data:
        input:
            dataset_local_files("squadv2_train"),
            evaluated=evaluated_squadv2_files,
        output:
            res("data/adamerging/reading_fit.jsonl"),
        log:
            log("merging/make_adamerging_data.log"),
        conda:
            "../envs/evaluation.yaml"
        threads: 1
        resources:
            **job_resources("cpu"),
        params:
            dataset=lambda w: config["datasets"]["squadv2_train"],
            seed=config["seed"],
            n=lambda w: config["merging"]["adamerging"]["n_train_samples"],
            code=code_fingerprint("make_adamerging_squadv2_data.py", env="evaluation"),
        script:
            "../workflow_scripts/make_adamerging_squadv2_data.py"


rule fit_adamerging:
    input:
        models=lambda w: pair_dirs(config, w.pair),
        pair=res("merging/{pair}/pair.json"),
        fit_data=res("data/adamerging/reading_fit.jsonl"),
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
        spec=lambda w: recipe_spec(config, adamerging_id(w)),
        n_train=lambda w: config["merging"]["adamerging"]["n_train_samples"],
        lr=lambda w: config["merging"]["adamerging"]["lr"],
        steps=lambda w: config["merging"]["adamerging"]["steps"],
        batch_size=lambda w: config["merging"]["adamerging"].get("batch_size", 8),
        max_length=config["merging"]["hma"]["block_size"],
        seed=config["seed"],
        dtype=lambda w: pair_dtype(w.pair),
        loading=lambda w: loading_options(config, w.pair),
        code=code_fingerprint("fit_adamerging.py", env="merging"),
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
        loading=lambda w: loading_options(config, pair_of(w.variant)),
        code=code_fingerprint("export_recipe.py", env="merging"),
    script:
        "../workflow_scripts/export_recipe.py"


rule merging_recipes:
    """Every recipe of the configuration (fits HMA and AdaMerging on the way)."""
    input:
        [res(f"recipes/{v}.json") for v in variant_ids(config)],
