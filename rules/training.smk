# Training stages: theta_pre -> SFT (theta0) -> reward model -> RLHF (RSF, DPO, PPO).
# Library: workflow_scripts/alignment_tax/{sft,reward_model,rsf,dpo,ppo,training_common}.py
#
# Resume: each job keeps its resumable state (Trainer checkpoints, finished phases, RSF
# iterations, PPO segments) under res("work/<job>"), which is not an output, so a killed
# job rerun by Snakemake continues from there; outputs are written atomically at the end
# and the work folder is then removed.
# Groups with resources.groups.train.processes > 1 (GPUs, or CPU processes with gpus: 0)
# run under `accelerate launch` (params.accelerate = job_accelerate("train")). Every rule
# runs workflow_scripts/train_stage.py: params.stage names the stage
# (alignment_tax.training_common.STAGES), and the named inputs and other params are the
# stage function's keyword arguments (checked against its signature before it starts).


rule train_sft:
    input:
        unpack(_sft_inputs),
    output:
        directory(res("models/sft")),
    log:
        log("training/train_sft.log"),
    conda:
        "../envs/training.yaml"
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        stage="sft",
        params=sft_rule_params(config["sft"]),
        seed=config["seed"],
        model_kwargs=_model_kwargs(),
        work_dir=res("work/sft"),
        accelerate=job_accelerate("train"),
        code=code_fingerprint("train_stage.py", env="training"),
    script:
        "../workflow_scripts/train_stage.py"


rule train_reward_model:
    input:
        unpack(_rm_inputs),
    output:
        directory(res("models/reward_model")),
    log:
        log("training/train_reward_model.log"),
    conda:
        "../envs/training.yaml"
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        stage="reward_model",
        params=config["reward_model"],
        seed=config["seed"],
        model_kwargs=_model_kwargs(),
        work_dir=res("work/reward_model"),
        accelerate=job_accelerate("train"),
        code=code_fingerprint("train_stage.py", env="training"),
    script:
        "../workflow_scripts/train_stage.py"


rule train_rsf:
    input:
        sft_dir=res("models/sft"),
        reward_model_dir=res("models/reward_model"),
        prompts_path=res("data/prompts/rlhf_train.jsonl"),
    output:
        directory(res("models/rlhf/rsf")),
    log:
        log("training/train_rsf.log"),
    conda:
        "../envs/training.yaml"
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        stage="rsf",
        params=_rlhf(
            "rsf",
            max_new_tokens=config["rlhf"]["max_new_tokens"],
            temperature=config["rlhf"]["temperature"],
            max_length=config["sft"]["max_length"],
        ),
        seed=config["seed"],
        model_kwargs=_model_kwargs(),
        work_dir=res("work/rsf"),
        accelerate=job_accelerate("train"),
        code=code_fingerprint("train_stage.py", env="training"),
    script:
        "../workflow_scripts/train_stage.py"


rule train_dpo:
    input:
        sft_dir=res("models/sft"),
        hh_train_path=res("data/hh_rlhf/train.jsonl"),
    output:
        directory(res("models/rlhf/dpo_beta{beta}")),
    log:
        log("training/train_dpo_beta{beta}.log"),
    wildcard_constraints:
        beta=r"[0-9]+(\.[0-9]+)?",
    conda:
        "../envs/training.yaml"
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        stage="dpo",
        params=_rlhf("dpo", max_length=config["reward_model"]["max_length"]),
        beta=lambda w: float(w.beta),
        heldout_fraction=config["reward_model"]["heldout_fraction"],
        seed=config["seed"],
        model_kwargs=_model_kwargs(),
        work_dir=lambda w: res(f"work/dpo_beta{w.beta}"),
        accelerate=job_accelerate("train"),
        code=code_fingerprint("train_stage.py", env="training"),
    script:
        "../workflow_scripts/train_stage.py"


rule train_ppo_warmup:
    input:
        sft_dir=res("models/sft"),
        hh_train_path=res("data/hh_rlhf/train.jsonl"),
    output:
        directory(res("models/rlhf/ppo_warmup")),
    log:
        log("training/train_ppo_warmup.log"),
    conda:
        "../envs/training.yaml"
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        stage="ppo_warmup",
        params=_rlhf("ppo", max_length=config["sft"]["max_length"]),
        heldout_fraction=config["reward_model"]["heldout_fraction"],
        seed=config["seed"],
        model_kwargs=_model_kwargs(),
        work_dir=res("work/ppo_warmup"),
        accelerate=job_accelerate("train"),
        code=code_fingerprint("train_stage.py", env="training"),
    script:
        "../workflow_scripts/train_stage.py"


rule train_ppo:
    input:
        warmup_dir=res("models/rlhf/ppo_warmup"),
        reward_model_dir=res("models/reward_model"),
        prompts_path=res("data/prompts/rlhf_train.jsonl"),
    output:
        directory(res("models/rlhf/ppo_kl{kl}")),
    log:
        log("training/train_ppo_kl{kl}.log"),
    wildcard_constraints:
        kl=r"[0-9]+(\.[0-9]+)?",
    conda:
        "../envs/training.yaml"
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        stage="ppo",
        params=_rlhf("ppo"),
        kl_coef=lambda w: float(w.kl),
        max_new_tokens=config["rlhf"]["max_new_tokens"],
        temperature=config["rlhf"]["temperature"],
        seed=config["seed"],
        model_kwargs=_model_kwargs(),
        work_dir=lambda w: res(f"work/ppo_kl{w.kl}"),
        accelerate=job_accelerate("train"),
        code=code_fingerprint("train_stage.py", env="training"),
    script:
        "../workflow_scripts/train_stage.py"


rule link_rlhf_representative:
    input:
        lambda w: (
            res(f"models/rlhf/dpo_beta{_coef(config['rlhf']['dpo']['beta'])}")
            if w.algo == "dpo"
            else res(f"models/rlhf/ppo_kl{_coef(config['rlhf']['ppo']['kl_coef'])}")
        ),
    output:
        directory(res("models/rlhf/{algo}")),
    log:
        log("training/link_{algo}.log"),
    wildcard_constraints:
        algo="dpo|ppo",
    conda:
        "../envs/training.yaml"
    threads: job_threads("cpu")
    resources:
        **job_resources("cpu"),
    params:
        code=code_fingerprint("link_rlhf_model.py", env="training"),
    script:
        "../workflow_scripts/link_rlhf_model.py"
