import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.rule_io import limit_cpu_threads, rule_logging  # noqa: E402
from alignment_tax.training_common import run_stage  # noqa: E402

# One script for both PPO rules: the warm-up SFT (rule train_ppo_warmup) and PPO proper.
# The stage comes from params, not from the rule's name: replicate seeds rename the rules
# (seed<k>_train_ppo_warmup).
with rule_logging(snakemake):
    limit_cpu_threads()
    p = snakemake.params
    if p.stage == "ppo_warmup":
        run_stage(
            "ppo_warmup",
            dict(
                sft_dir=snakemake.input.sft,
                hh_train_path=snakemake.input.hh_train,
                out_dir=snakemake.output[0],
                work_dir=p.work_dir,
                params=p.ppo,
                heldout_fraction=p.heldout_fraction,
                seed=p.seed,
                model_kwargs=p.model,
            ),
            p.accelerate,
        )
    else:
        run_stage(
            "ppo",
            dict(
                warmup_dir=snakemake.input.warmup,
                reward_model_dir=snakemake.input.reward_model,
                prompts_path=snakemake.input.prompts,
                out_dir=snakemake.output[0],
                work_dir=p.work_dir,
                params=p.ppo,
                kl_coef=p.kl_coef,
                max_new_tokens=p.max_new_tokens,
                temperature=p.temperature,
                seed=p.seed,
                model_kwargs=p.model,
            ),
            p.accelerate,
        )
