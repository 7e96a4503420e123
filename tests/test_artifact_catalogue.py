"""The artifact catalogue is data: parsing the workflow and checking the paper's claims never
import matplotlib (only drawing does), so no Snakemake parse, SLURM job or paper_claims job
pays for a plotting stack it does not use."""

import os
import subprocess
import sys

from conftest import REPO, snakemake_bin

SCRIPTS = REPO / "workflow_scripts"


def imported_modules(importtime_log: str) -> list[str]:
    """Module names, in import order, from the stderr of ``python -X importtime``."""
    return [
        line.rsplit("|", 1)[1].strip()
        for line in importtime_log.splitlines()
        if line.startswith("import time:") and "|" in line
    ]


def test_workflow_parse_does_not_import_matplotlib():
    # A real parse of the workflow (Snakefile, rules/*.smk and every project module they
    # import, input functions included), as each SLURM job repeats it.
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1", PYTHONUNBUFFERED="1")
    result = subprocess.run(
        [sys.executable, snakemake_bin(), "-n", "all_figures", "--quiet", "--cores", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    modules = imported_modules(result.stderr)
    plotting = [m for m in modules if m.split(".")[0] == "matplotlib"]
    assert not plotting, f"the workflow parse imports {plotting[:5]}"
    assert "alignment_tax.artifact_catalogue" in modules, "the parse did not reach the catalogue"


def test_catalogue_and_claims_import_without_matplotlib():
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(SCRIPTS)!r})\n"
        "import alignment_tax.artifact_catalogue, alignment_tax.paper_claims\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]", result.stdout
