# The embedded toy world (default configuration): data sets, tokenizer and theta_pre, all
# generated here from config["seed"] and config["toy_world"]. The Snakefile includes this
# file instead of rules/models.smk when stages.toy_world is true (same output paths).


rule make_toy_world:
    output:
        world=res("data/world.json"),
        pretrain=res("data/pretrain.jsonl"),
        sharegpt=res("data/sharegpt.json"),
        hh_train=res("data/hh_rlhf/train.jsonl"),
        hh_test=res("data/hh_rlhf/test.jsonl"),
        hh_train_truth=res("data/hh_rlhf/train_truth.jsonl"),
        hh_test_truth=res("data/hh_rlhf/test_truth.jsonl"),
        rlhf_prompts=res("data/prompts/rlhf_train.jsonl"),
        eval_prompts=res("data/prompts/eval.jsonl"),
        tasks=directory(res("data/tasks")),
    log:
        log("toy_world/make_toy_world.log"),
    conda:
        "../envs/data.yaml"
    threads: job_threads("cpu")
    resources:
        mem_mb=job_mem_mb("cpu"),
        runtime=job_runtime("cpu"),
    params:
        seed=config["seed"],
        # the data-shaping keys only: tokenizer/model settings do not rerun the data
        world={
            k: v
            for k, v in config["toy_world"].items()
            if k not in ("architecture", "pretrain", "pretrain_threads", "tokenizer")
        },
        code=code_fingerprint("make_toy_world.py", env="data"),
    script:
        "../workflow_scripts/make_toy_world.py"


rule train_tokenizer:
    input:
        pretrain=res("data/pretrain.jsonl"),
        sharegpt=res("data/sharegpt.json"),
    output:
        directory(res("models/tokenizer")),
    log:
        log("toy_world/train_tokenizer.log"),
    conda:
        "../envs/data.yaml"
    threads: job_threads("cpu")
    resources:
        mem_mb=job_mem_mb("cpu"),
        runtime=job_runtime("cpu"),
    params:
        vocab_size=config["toy_world"].get("tokenizer", {}).get("vocab_size", 2048),
        code=code_fingerprint("train_tokenizer.py", env="data"),
    script:
        "../workflow_scripts/train_tokenizer.py"


rule pretrain_base_model:
    input:
        pretrain=res("data/pretrain.jsonl"),
        tokenizer=res("models/tokenizer"),
    output:
        directory(res("models/base")),
    log:
        log("toy_world/pretrain_base_model.log"),
    conda:
        "../envs/training.yaml"
    # Nothing else can run while the base model trains, so it takes its own thread count
    # (toy: 2, all of a laptop's 2 cores: 146 s vs ~215 s on 1 thread for the whole build).
    threads: config["toy_world"]["pretrain_threads"]
    resources:
        **job_resources("train"),
    params:
        seed=config["seed"],
        architecture=config["toy_world"]["architecture"],
        train=config["toy_world"]["pretrain"],
        mix=config["toy_world"]["task_mix"],
        code=code_fingerprint("pretrain_base_model.py", env="training"),
    script:
        "../workflow_scripts/pretrain_base_model.py"
