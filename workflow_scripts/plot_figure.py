import hashlib
import sys

sys.path.insert(0, snakemake.scriptdir)

from alignment_tax.warm_worker import hand_off  # noqa: E402

hand_off(globals())  # local runs: continue in a pre-imported worker (see its docstring)

from alignment_tax.artifact_catalogue import artifacts, load_wide_tables  # noqa: E402
from alignment_tax.figures import CATEGORY_LABELS, draw, write_summary  # noqa: E402
from alignment_tax.rule_io import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    name = snakemake.wildcards.artifact
    artifact = artifacts(snakemake.params.settings)[name]
    paths = dict(zip(CATEGORY_LABELS, snakemake.input.tables, strict=True))
    tables = load_wide_tables(paths)
    summary = draw(
        artifact,
        tables,
        snakemake.output.pdf,
        snakemake.output.png,
        caption=snakemake.params.caption,
        style=snakemake.params.style,
    )
    # Fingerprints of the tables this figure was drawn from (checked by the tests).
    summary["tables_sha256"] = {
        p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in snakemake.input.tables
    }
    log.info("drew %s: %s points", name, summary["points"])
    write_summary(snakemake.output.summary, summary)
