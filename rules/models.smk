# Public checkpoints and data sets (paper and Zephyr configurations only). The toy
# configuration never reaches these rules: its base model and data come from
# rules/toy_world.smk.


rule fetch_base_model:
    output:
        directory(res("models/base")),
    log:
        log("fetch_base_model.log"),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        hub_id=lambda w: config["base_model"]["hub_id"],
        revision=lambda w: config["base_model"]["revision"],
    script:
        "../workflow_scripts/fetch_model.py"


rule fetch_pair_model:
    output:
        directory(res("hub/{pair}/{side}")),
    log:
        log("fetch_pair_model/{pair}_{side}.log"),
    wildcard_constraints:
        side="theta0|theta",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        hub_id=lambda w: pair_side(w.pair, w.side)["hub_id"],
        revision=lambda w: pair_side(w.pair, w.side).get("revision"),
    script:
        "../workflow_scripts/fetch_model.py"


rule prepare_hub_data:
    output:
        sharegpt=res("data/sharegpt.json"),
        hh_train=res("data/hh_rlhf/train.jsonl"),
        hh_test=res("data/hh_rlhf/test.jsonl"),
        rlhf_prompts=res("data/prompts/rlhf_train.jsonl"),
        eval_prompts=res("data/prompts/eval.jsonl"),
    log:
        log("prepare_hub_data.log"),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        datasets=lambda w: config["datasets"],
        seed=config["seed"],
    script:
        "../workflow_scripts/prepare_hub_data.py"
