import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.pretraining import pretrain  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    summary = pretrain(
        corpus_jsonl=snakemake.input.pretrain,
        tokenizer_dir=snakemake.input.tokenizer,
        out_dir=snakemake.output[0],
        architecture=snakemake.params.architecture,
        train=snakemake.params.train,
        mix=snakemake.params.mix,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
    )
    logger.info(
        "theta_pre: %d parameters, final loss %.4f, %.1f s",
        summary["parameters"],
        summary["final_loss"],
        summary["train_seconds"],
    )
