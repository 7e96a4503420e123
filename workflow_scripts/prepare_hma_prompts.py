"""D_theta's prompts from a data set (merging.hma.prompts): a seeded draw of n_prompts
texts, written raw as {"prompt": text}; build_hma_dataset renders them with theta's chat
template when the config asks."""

import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.hub_data import load_prompts  # noqa: E402
from alignment_tax.io import write_jsonl  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    p = snakemake.params
    prompts = load_prompts(p.spec, p.n_prompts, p.seed)
    logger.info("%d prompts drawn from %s", len(prompts),
                p.spec.get("hub_id") or p.spec.get("local_files"))
    write_jsonl(snakemake.output[0], [{"prompt": text} for text in prompts])
