"""Labelled reading items for AdaMerging's fit, drawn from the toy world and disjoint from
the evaluated reading items (alignment_tax.adamerging.reading_fit_rows)."""

import sys

sys.path.insert(0, snakemake.scriptdir)

from pathlib import Path  # noqa: E402

from alignment_tax.adamerging import reading_fit_rows  # noqa: E402
from alignment_tax.io import read_json, read_jsonl, write_jsonl  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    p = snakemake.params
    evaluated = {
        row["prompt"]
        for task in p.reading_tasks
        for row in read_jsonl(Path(snakemake.input.tasks) / f"{task}.jsonl", required=["prompt"])
    }
    rows = reading_fit_rows(
        p.world,
        p.seed,
        p.reading_tasks,
        p.n,
        exclude_prompts=evaluated,
        world_json=read_json(snakemake.input.world),
    )
    write_jsonl(snakemake.output[0], rows)
    logger.info("%d fit items, none of the %d evaluated reading prompts", len(rows), len(evaluated))
