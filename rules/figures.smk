# Paper artifacts: one target per figure/table (fig3 ... fig16, table1), all_figures for
# every artifact the active configuration can make. Plotting reads only the score
# tables, so a change of plot style reruns plotting and nothing else.


rule figure:
    input:
        tables=figure_tables(),
    output:
        pdf=report(
            res("figures/{artifact}.pdf"),
            caption="../docs/report/figure.rst",
            category="Figures",
            labels={"artifact": "{artifact}", "format": "PDF"},
        ),
        png=report(
            res("figures/{artifact}.png"),
            caption="../docs/report/figure.rst",
            category="Figures",
            labels={"artifact": "{artifact}", "format": "PNG"},
        ),
        summary=res("figures/{artifact}.json"),
    log:
        log("figures/{artifact}.log"),
    wildcard_constraints:
        artifact="fig[0-9]+|table1",
    conda:
        "../envs/plotting.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        caption=lambda w: figure_caption(w.artifact),
        settings=artifact_settings(config),
        style=config["plots"],
        code=code_fingerprint("plot_figure.py", env="plotting"),
    script:
        "../workflow_scripts/plot_figure.py"


for _artifact in ARTIFACT_NAMES:

    rule:
        name:
            _artifact
        input:
            res(f"figures/{_artifact}.pdf"),
            res(f"figures/{_artifact}.png"),


rule all_figures:
    input:
        all_inputs(),
