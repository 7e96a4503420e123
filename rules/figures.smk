# Paper artifacts: one target per figure/table (fig3 ... fig16, table1), all_figures for
# every artifact the active configuration can make. Plotting reads only the score
# tables, so a change of plot style reruns plotting and nothing else.


rule figure:
    input:
        tables=expand(res("tables/wide_{category}.csv"), category=CATEGORIES),
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
    script:
        "../workflow_scripts/plot_figure.py"


rule rulegraph:
    output:
        report(
            res("figures/fig1_fig2_rulegraph.dot"),
            caption="../docs/report/rulegraph.rst",
            category="Figures",
        ),
    log:
        log("figures/rulegraph.log"),
    conda:
        "../envs/plotting.yaml"
    params:
        configfiles=workflow.configfiles,
        # the Snakemake that runs this workflow, whether or not its venv is on PATH
        snakemake=f"{sys.executable} -m snakemake",
    shell:
        "{params.snakemake} all_figures --nolock --rulegraph dot --configfile {params.configfiles} "
        "> {output}.tmp 2> {log} && mv {output}.tmp {output}"


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
