# Forgetting-mitigation baselines (paper section 4.1, appendices C and D.4), in the paper's
# distillation style: theta0 fine-tuned on the RSF best-of-n pool with one remedy added.
# Library: workflow_scripts/alignment_tax/{baselines,baseline_models}.py
# Early stopping (RSF iter_<i>) and the PPO KL penalty (models/rlhf/ppo_kl<coef>) need no
# job here; baseline_models(config) lists every baseline model, trained here or not.
from alignment_tax.baseline_models import (  # noqa: E402
    TRAINED_METHODS,
    parse_value,
    rule_inputs,
    rule_model_kwargs,
    rule_params,
    trained_baseline_dirs,
)


rule train_baseline:
    input:
        unpack(lambda w: rule_inputs(config, w.method)),
    output:
        directory(res("models/baselines/rsf/{method}/{value}")),
    log:
        log("baselines/rsf/{method}/{value}.log"),
    wildcard_constraints:
        method="|".join(TRAINED_METHODS),
        value=r"[0-9]+(\.[0-9]+)?(e-?[0-9]+)?",
    conda:
        "../envs/training.yaml"
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        stage="baseline",
        method=lambda w: w.method,
        value=lambda w: parse_value(w.method, w.value),
        params=rule_params(config),
        seed=config["seed"],
        model_kwargs=rule_model_kwargs(config),
        work_dir=lambda w: res(f"work/baselines/rsf/{w.method}/{w.value}"),
        accelerate=job_accelerate("train"),
        code=code_fingerprint("train_stage.py", env="training"),
    script:
        "../workflow_scripts/train_stage.py"


if not stage("toy_world"):

    # The replay baseline's pretraining data; the toy world writes its own.
    rule prepare_pretrain_sample:
        input:
            dataset_local_files("pretrain_sample"),
        output:
            res("data/pretrain.jsonl"),
        log:
            log("baselines/prepare_pretrain_sample.log"),
        conda:
            "../envs/data.yaml"
        threads: 1
        resources:
            **job_resources("cpu"),
        params:
            spec=lambda w: config["datasets"]["pretrain_sample"],
            seed=config["seed"],
            code=code_fingerprint("prepare_pretrain_sample.py", env="data"),
        script:
            "../workflow_scripts/prepare_pretrain_sample.py"
