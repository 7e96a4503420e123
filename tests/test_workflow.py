"""The workflow parses for every configuration, and its code style checks are clean."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONFIGS, REPO, run_snakemake

TOP_TARGET = "all"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_dry_run_of_top_target(name):
    result = run_snakemake(TOP_TARGET, "-n", "--cores", "2", "--configfile", str(CONFIGS[name]))
    assert result.returncode == 0, result.stderr[-3000:]


def test_snakemake_lint_is_clean():
    result = run_snakemake("--lint", "--cores", "1")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_snakefmt_check_is_clean():
    files = ["Snakefile", *sorted(str(p) for p in (REPO / "rules").glob("*.smk"))]
    result = subprocess.run(
        [_tool("snakefmt"), "--check", *files], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean():
    result = subprocess.run([_tool("ruff"), "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
