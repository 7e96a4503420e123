# Public checkpoints and data sets (paper and Zephyr configurations only). The toy
# configuration never reaches these rules: its base model and data come from
# rules/toy_world.smk.
from alignment_tax.config_checks import workflow_gguf_path
from alignment_tax.real_schema_fixtures import FIXTURE_FILES


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
        code=code_fingerprint("fetch_model.py", env="data"),
    script:
        "../workflow_scripts/fetch_model.py"


if (config.get("base_model") or {}).get("source") == "gguf":

    ruleorder: convert_gguf_base_model > fetch_base_model

    # theta_pre from a local GGUF file (base_model.gguf_file), de-quantized once into a
    # float32 safetensors checkpoint with its tokenizer (alignment_tax.gguf_model).
    rule convert_gguf_base_model:
        input:
            gguf=workflow_gguf_path(config["base_model"]["gguf_file"], workflow.basedir),
        output:
            directory(res("models/base")),
        log:
            log("convert_gguf_base_model.log"),
        conda:
            "../envs/data.yaml"
        threads: 1
        resources:
            **job_resources("cpu"),
        params:
            code=code_fingerprint("convert_gguf_model.py", env="data"),
        script:
            "../workflow_scripts/convert_gguf_model.py"


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
        code=code_fingerprint("fetch_model.py", env="data"),
    script:
        "../workflow_scripts/fetch_model.py"


rule prepare_hub_data:
    input:
        dataset_local_files("sharegpt", "hh_rlhf"),
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
        code=code_fingerprint("prepare_hub_data.py", env="data"),
    script:
        "../workflow_scripts/prepare_hub_data.py"


# Small files in the public data sets' own schemas, generated (nothing downloaded), for
# configs that point datasets.*.local_files and evaluation.local_task_data at them.
rule make_real_schema_fixtures:
    output:
        [res(f"data/fixtures/{path}") for path in FIXTURE_FILES.values()],
    log:
        log("make_real_schema_fixtures.log"),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        **job_resources("cpu"),
    params:
        seed=config["seed"],
        n_items=config.get("fixtures", {}).get("n_items", 12),
        code=code_fingerprint("make_real_schema_fixtures.py", env="data"),
    script:
        "../workflow_scripts/make_real_schema_fixtures.py"
