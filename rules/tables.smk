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
    script:
        "../workflow_scripts/build_tables.py"


rule paper_claims:
    input:
        tables=expand(res("tables/wide_{category}.csv"), category=BENCHMARK_GROUPS),
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
    script:
        "../workflow_scripts/check_paper_claims.py"


rule all_tables:
    input:
        rules.build_tables.output,
