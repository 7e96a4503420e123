import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.provenance import write_resolved_config  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    write_resolved_config(snakemake.output[0], snakemake.params.resolved)
    log.info("wrote %s", snakemake.output[0])
