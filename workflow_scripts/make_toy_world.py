import sys

sys.path.insert(0, snakemake.scriptdir)

from pathlib import Path  # noqa: E402

from alignment_tax.rule_io import rule_logging  # noqa: E402
from alignment_tax.toy_world import generate_toy_world  # noqa: E402

with rule_logging(snakemake) as logger:
    out_dir = Path(snakemake.output.world).parent
    paths = generate_toy_world(out_dir, snakemake.params.seed, snakemake.params.world)
    for name, path in paths.items():
        logger.info("wrote %s: %s", name, path)
    # the rule's outputs and the generator's layout must agree (docs/CONTRACTS.md)
    missing = [str(p) for p in snakemake.output if not Path(p).exists()]
    if missing:
        raise RuntimeError(f"make_toy_world: outputs not written: {missing}")
