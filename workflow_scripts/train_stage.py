import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.rule_io import limit_cpu_threads, rule_logging  # noqa: E402
from alignment_tax.training_common import run_stage, stage_arguments  # noqa: E402

# The one script of every training rule (SFT, reward model, RSF, DPO, PPO warm-up, PPO,
# baselines): params.stage names the stage (training_common.STAGES); the rule's named
# inputs and its other params are the stage function's keyword arguments, checked against
# its signature before anything is loaded or launched.
with rule_logging(snakemake):
    limit_cpu_threads()
    p = snakemake.params
    inputs = dict(snakemake.input.items())  # the named inputs
    run_stage(p.stage, stage_arguments(p.stage, inputs, dict(p.items()), snakemake.output[0]),
              p.accelerate)
