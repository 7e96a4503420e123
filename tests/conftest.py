import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {name: REPO / "config" / f"{name}.yaml" for name in ("config", "paper", "zephyr")}


def snakemake_bin() -> str:
    local = Path(sys.executable).with_name("snakemake")
    return str(local) if local.exists() else shutil.which("snakemake")


def run_snakemake(*args: str, cwd: Path = REPO, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [snakemake_bin(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def load_config(name: str) -> dict:
    return yaml.safe_load(CONFIGS[name].read_text())


@pytest.fixture
def toy_config() -> dict:
    return load_config("config")


def pytest_sessionfinish(session, exitstatus):
    """Stop the warm workers the workflow runs started, rather than let them idle out."""
    from alignment_tax import warm_worker

    if sys.platform.startswith("linux"):
        warm_worker.stop_all()
