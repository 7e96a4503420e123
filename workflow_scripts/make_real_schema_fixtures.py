import sys
from pathlib import Path

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.real_schema_fixtures import write_fixtures  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as logger:
    # the outputs are FIXTURE_FILES' paths in order; the first (sharegpt.json) is at the top
    out_dir = Path(snakemake.output[0]).parent
    paths = write_fixtures(out_dir, snakemake.params.seed, snakemake.params.n_items)
    if sorted(map(str, paths.values())) != sorted(snakemake.output):
        raise RuntimeError(f"fixtures written {sorted(paths.values())} are not the rule's outputs")
    logger.info("wrote %d fixture files under %s", len(paths), out_dir)
