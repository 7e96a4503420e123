# What a run was made from, next to its results: the configuration it resolved
# (results/<run>/config.resolved.yaml) and the rule graph it draws (fig1/fig2's stand-in).
# Both are part of all_figures. Library: workflow_scripts/alignment_tax/provenance.py
import copy

from alignment_tax.provenance import draw_rule_graph


localrules:
    resolved_config,
    rulegraph,


rule resolved_config:
    output:
        res("config.resolved.yaml"),
    log:
        log("resolved_config.log"),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        # the whole config (keys sorted by common.smk): any changed value rewrites the file
        resolved=copy.deepcopy(config),
        code=code_fingerprint("write_resolved_config.py", env="data"),
    script:
        "../workflow_scripts/write_resolved_config.py"


# Its params are what the graph depends on (rule_graph_key, rules/common.smk), not the
# invocation: the run block hands the loaded config to `snakemake --rulegraph` itself.
rule rulegraph:
    output:
        report(
            res("figures/fig1_fig2_rulegraph.dot"),
            caption="../docs/report/rulegraph.rst",
            category="Figures",
        ),
    log:
        log("figures/rulegraph.log"),
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        graph=rule_graph_key(),
        code=code_fingerprint("alignment_tax/provenance.py"),
    run:
        draw_rule_graph(workflow.main_snakefile, config, output[0], log[0])
