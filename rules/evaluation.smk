# Evaluation: one job per variant and kind of score, so adding points to a grid evaluates
# only the new ones. Kinds: the lm-eval benchmarks (every configured category,
# common_sense / reading / translation, in one job that builds the variant once), reward
# (reward model on sampled answers), pairrm and gpt4 (AlpacaEval, Zephyr configuration).
# Each job builds its variant in memory from results/<run>/recipes/<variant>.json.
import os

from alignment_tax.eval_plan import (
    VARIANT_PATTERN,
    benchmark_inputs,
    benchmarked_groups,
    local_task_data,
    local_task_files,
    judge_glm_data_inputs,
    variant_dtype,
    variant_inputs,
)
from alignment_tax.loading import loading_options


rule evaluate_benchmark:
    input:
        unpack(lambda w: benchmark_inputs(config, w.variant)),
        local_task_files=local_task_files(config),
    output:
        scores=expand(
            res("eval/{{variant}}/{group}.json"), group=benchmarked_groups(config)
        ),
        # per-item scores (alignment_tax.benchmarks.item_scores) for the claims' bootstrap
        per_item=expand(
            res("eval/{{variant}}/{group}.items.csv"), group=benchmarked_groups(config)
        ),
    log:
        log("evaluate_benchmark/{variant}.log"),
    wildcard_constraints:
        variant=VARIANT_PATTERN,
    conda:
        "../envs/evaluation.yaml"
    threads: job_threads("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        tasks={
            g: config["evaluation"]["benchmarks"][g]
            for g in benchmarked_groups(config)
        },
        batch_size=config["evaluation"]["batch_size"],
        num_fewshot=config["evaluation"]["num_fewshot"],
        limit=config["evaluation"]["limit"],
        max_gen_toks=config["evaluation"]["max_gen_toks"],
        seed=config["seed"],
        dtype=lambda w: variant_dtype(config, w.variant),
        loading=lambda w: loading_options(config, pair_of(w.variant)),
        local_task_data=local_task_data(config),
        code=code_fingerprint("evaluate_benchmarks.py", env="evaluation"),
    script:
        "../workflow_scripts/evaluate_benchmarks.py"


rule evaluate_reward:
    input:
        unpack(lambda w: variant_inputs(config, w.variant)),
        reward_model=res("models/reward_model"),
        prompts=res("data/prompts/eval.jsonl"),
    output:
        res("eval/{variant}/reward.json"),
    log:
        log("evaluate_reward/{variant}.log"),
    wildcard_constraints:
        variant=VARIANT_PATTERN,
    conda:
        "../envs/evaluation.yaml"
    threads: job_threads("generate")
    resources:
        **job_resources("generate"),
    params:
        n_prompts=config["evaluation"]["reward"]["n_prompts"],
        max_new_tokens=config["evaluation"]["reward"]["max_new_tokens"],
        temperature=config["evaluation"]["reward"]["temperature"],
        batch_size=config["evaluation"]["reward"]["batch_size"],
        reward_max_length=config.get("reward_model", {}).get("max_length"),
        hidden_reward=stage("toy_world"),
        seed=config["seed"],
        dtype=lambda w: variant_dtype(config, w.variant),
        loading=lambda w: loading_options(config, pair_of(w.variant)),
        code=code_fingerprint("evaluate_reward.py", env="evaluation"),
    script:
        "../workflow_scripts/evaluate_reward.py"


rule prepare_alpaca_eval:
    input:
        dataset_local_files("alpaca_eval"),
    output:
        res("data/alpaca_eval.jsonl"),
    log:
        log("prepare_alpaca_eval.log"),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        dataset=lambda w: config["datasets"]["alpaca_eval"],
        n_prompts=config["evaluation"]["pairrm"]["n_prompts"],
        code=code_fingerprint("prepare_alpaca_eval.py", env="data"),
    script:
        "../workflow_scripts/prepare_alpaca_eval.py"


rule generate_alpaca_answers:
    input:
        unpack(lambda w: variant_inputs(config, w.variant)),
        instructions=res("data/alpaca_eval.jsonl"),
    output:
        res("eval/{variant}/alpaca_answers.jsonl"),
    log:
        log("generate_alpaca_answers/{variant}.log"),
    wildcard_constraints:
        variant=VARIANT_PATTERN,
    conda:
        "../envs/evaluation.yaml"
    threads: job_threads("generate")
    resources:
        **job_resources("generate"),
    params:
        max_new_tokens=config["evaluation"]["pairrm"]["max_new_tokens"],
        temperature=config["evaluation"]["pairrm"]["temperature"],
        batch_size=config["evaluation"]["pairrm"]["batch_size"],
        seed=config["seed"],
        dtype=lambda w: variant_dtype(config, w.variant),
        loading=lambda w: loading_options(config, pair_of(w.variant)),
        code=code_fingerprint("generate_alpaca_answers.py", env="evaluation"),
    script:
        "../workflow_scripts/generate_alpaca_answers.py"


rule fetch_pairrm:
    output:
        directory(res("hub/pairrm")),
    log:
        log("fetch_pairrm.log"),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        hub_id=config["evaluation"]["pairrm"]["model"],
        revision=None,
        code=code_fingerprint("fetch_model.py", env="data"),
    script:
        "../workflow_scripts/fetch_model.py"


if config["evaluation"]["pairrm"]["source"] == "tiny":

    ruleorder: build_tiny_pairrm > fetch_pairrm

    # evaluation.pairrm.source tiny: a randomly initialised ranker of PairRM's class in
    # hub/pairrm's layout, built here, so the PairRM path runs with nothing downloaded
    # (its win rates are noise: alignment_tax.pairrm.tiny_pairrm).
    rule build_tiny_pairrm:
        input:
            tokenizer=tiny_pairrm_tokenizer,
        output:
            directory(res("hub/pairrm")),
        log:
            log("build_tiny_pairrm.log"),
        conda:
            "../envs/evaluation.yaml"
        threads: 1
        resources:
            **job_resources("cpu"),
        params:
            tiny=config["evaluation"]["pairrm"]["tiny"],
            code=code_fingerprint("build_tiny_pairrm.py", env="evaluation"),
        script:
            "../workflow_scripts/build_tiny_pairrm.py"


rule evaluate_pairrm:
    input:
        answers=res("eval/{variant}/alpaca_answers.jsonl"),
        pairrm=res("hub/pairrm"),
    output:
        res("eval/{variant}/pairrm.json"),
    log:
        log("evaluate_pairrm/{variant}.log"),
    wildcard_constraints:
        variant=VARIANT_PATTERN,
    conda:
        "../envs/evaluation.yaml"
    threads: job_threads("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        model=pairrm_name(),
        batch_size=config["evaluation"]["pairrm"]["batch_size"],
        code=code_fingerprint("evaluate_pairrm.py", env="evaluation"),
    script:
        "../workflow_scripts/evaluate_pairrm.py"


rule fetch_alpaca_eval_glm_data:
    input:
        unpack(lambda w: judge_glm_data_inputs(config)),
    output:
        res("data/alpaca_eval_glm_data.csv"),
    log:
        log("fetch_alpaca_eval_glm_data.log"),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        dataset=lambda w: config.get("datasets", {}).get("alpaca_eval", {}),
        code=code_fingerprint("fetch_alpaca_eval_glm_data.py", env="data"),
    script:
        "../workflow_scripts/fetch_alpaca_eval_glm_data.py"


# AlpacaEval 2.0 (alpaca_eval's weighted GPT-4 Turbo annotator) on table 1's variants; the
# verdicts are cached under results/<run>/cache/alpaca_eval, so a rerun asks only for
# the missing ones.
rule evaluate_gpt4:
    input:
        answers=res("eval/{variant}/alpaca_answers.jsonl"),
        glm_data=res("data/alpaca_eval_glm_data.csv"),
    output:
        res("eval/{variant}/gpt4.json"),
    log:
        log("evaluate_gpt4/{variant}.log"),
    wildcard_constraints:
        variant=VARIANT_PATTERN,
    conda:
        "../envs/evaluation.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        annotator=config["evaluation"]["gpt4_judge"]["annotator"],
        model=config["evaluation"]["gpt4_judge"]["model"],
        base_url=config["evaluation"]["gpt4_judge"]["base_url"],
        max_concurrency=config["evaluation"]["gpt4_judge"]["max_concurrency"],
        cache_root=res("cache/alpaca_eval"),
        api_key_env=config["evaluation"]["gpt4_judge"]["api_key_env"],
        # true: the job starts alignment_tax.loopback_judge's stub on 127.0.0.1 (no API)
        loopback=config["evaluation"]["gpt4_judge"]["loopback"],
        # whether the key is set (never the key): setting it later reruns the skipped jobs
        api_key_set=bool(
            os.environ.get(config["evaluation"]["gpt4_judge"]["api_key_env"])
        ),
        code=code_fingerprint("evaluate_gpt4.py", env="evaluation"),
    script:
        "../workflow_scripts/evaluate_gpt4.py"
