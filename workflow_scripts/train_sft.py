import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.rule_io import limit_cpu_threads, rule_logging  # noqa: E402
from alignment_tax.training_common import run_stage  # noqa: E402

with rule_logging(snakemake):
    limit_cpu_threads()
    p = snakemake.params
    run_stage(
        "sft",
        dict(
            base_dir=snakemake.input.base,
            sharegpt_path=snakemake.input.sharegpt,
            hh_train_path=snakemake.input.get("hh_train"),
            out_dir=snakemake.output[0],
            work_dir=p.work_dir,
            params=p.sft,
            seed=p.seed,
            model_kwargs=p.model,
        ),
        p.accelerate,
    )
