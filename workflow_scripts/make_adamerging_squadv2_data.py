"""Labelled reading items for AdaMerging's fit on the paper's path: a seeded draw from SQuAD
v2's train split (config datasets.squadv2_train), in lm-eval's squadv2 prompt, none of them
an evaluated item (alignment_tax.adamerging_squadv2.squadv2_fit_rows)."""

import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.adamerging_squadv2 import squadv2_fit_rows  # noqa: E402
from alignment_tax.hub_data import dataset_source  # noqa: E402
from alignment_tax.io import write_jsonl  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    p = snakemake.params
    evaluated = list(snakemake.input.evaluated)
    rows = squadv2_fit_rows(p.dataset, p.n, p.seed, evaluated_files=evaluated)
    write_jsonl(snakemake.output[0], rows)
    logger.info(
        "%d fit items from %s, none of the evaluated items in %s",
        len(rows),
        dataset_source(p.dataset),
        evaluated or "the validation split lm-eval evaluates",
    )
