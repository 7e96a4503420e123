# Score tables: every evaluation JSON of the run in one tidy long table (CSV + parquet) and a
# wide table per benchmark category, read by the figures.
from alignment_tax.eval_plan import (
    BENCHMARK_GROUPS,
    eval_files,
    eval_variants,
    recipe_files,
    table_model_label,
)


rule build_tables:
    input:
        evals=eval_files(config),
        recipes=recipe_files(config),
    output:
        long_csv=res("tables/scores_long.csv"),
        long_parquet=res("tables/scores_long.parquet"),
        wide=expand(res("tables/wide_{category}.csv"), category=BENCHMARK_GROUPS),
    log:
        log("build_tables.log"),
    conda:
        "../envs/evaluation.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        variants=eval_variants(config),
        run=RUN,
        model=table_model_label(config),
        public_pairs=[p["name"] for p in config.get("pairs", [])],
        categories=BENCHMARK_GROUPS,
        code=code_fingerprint("build_tables.py", env="evaluation"),
    script:
        "../workflow_scripts/build_tables.py"


rule paper_claims:
    input:
        tables=expand(res("tables/wide_{category}.csv"), category=BENCHMARK_GROUPS),
        per_item=claim_item_files(),
    output:
        report(
            res("tables/paper_claims.csv"),
            caption="../docs/report/paper_claims.rst",
            category="Paper claims",
        ),
    log:
        log("paper_claims.log"),
    conda:
        "../envs/plotting.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        settings=artifact_settings(config),
        artifacts=BUILDABLE,
        categories=BENCHMARK_GROUPS,
        variants=eval_variants(config),
        eval_roots=[result_path(config, "eval", seed=s) for s in SEEDS],
        bootstrap=config["paper_claims"],
        seed=config["seed"],
        code=code_fingerprint("check_paper_claims.py", env="plotting"),
    script:
        "../workflow_scripts/check_paper_claims.py"


# Replicate seeds (config replicates.seeds): each category's wide table averaged over the
# seeds, with the standard error over seeds; the figures draw these when there are several.
rule aggregate_replicates:
    input:
        replicate_wide_tables,
    output:
        res("tables/replicates/wide_{category}.csv"),
    log:
        log("aggregate_replicates/{category}.log"),
    wildcard_constraints:
        category="|".join(BENCHMARK_GROUPS),
    conda:
        "../envs/evaluation.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        seeds=SEEDS,
        code=code_fingerprint("aggregate_replicates.py", env="evaluation"),
    script:
        "../workflow_scripts/aggregate_replicates.py"


rule all_tables:
    input:
        rules.build_tables.output,
