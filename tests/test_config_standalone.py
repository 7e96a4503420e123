"""A configuration given with --configfile stands alone.

For every shipped config/*.yaml, the config the workflow resolves (the file
results/<run>/config.resolved.yaml written by rule resolved_config) equals that file plus
the schema's defaults: no value of the toy config/config.yaml leaks in, and Snakemake does
not report the toy config as "extended by" the given one. Without --configfile the toy
config is the default; --config key=value applies on top of either.
"""

from __future__ import annotations

import copy

import pytest
import yaml
from alignment_tax.provenance import canonical
from conftest import REPO, require_gguf_of, run_snakemake
from snakemake.utils import validate

SCHEMA = REPO / "config" / "schema" / "config.schema.yaml"
SHIPPED = sorted((REPO / "config").glob("*.yaml"))


def expected_config(path, overrides=None) -> dict:
    """The file alone, --config overrides applied, then the schema's defaults."""
    config = yaml.safe_load(path.read_text())
    for key, value in (overrides or {}).items():
        config[key] = value
    validate(config, str(SCHEMA), set_default=True)
    return canonical(config)


def resolve(tmp_path, *args) -> tuple[dict, str]:
    """Run rule resolved_config in a scratch working directory; return its config and the
    run's output."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    run_name = _run_name(args)
    target = f"results/{run_name}/config.resolved.yaml"
    result = run_snakemake(
        "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--cores", "1", target, *args
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    resolved = yaml.safe_load((tmp_path / target).read_text())
    return resolved, result.stdout + result.stderr


def _run_name(args) -> str:
    if "--configfile" in args:
        path = args[args.index("--configfile") + 1]
        return yaml.safe_load(open(path))["run_name"]
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())["run_name"]


def differences(got, want, path="") -> list[str]:
    """Key paths where two configs differ (for a readable failure)."""
    if isinstance(got, dict) and isinstance(want, dict):
        out = []
        for key in sorted(set(got) | set(want), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in want:
                out.append(f"{where}: not in the file or the schema's defaults, got {got[key]!r}")
            elif key not in got:
                out.append(f"{where}: missing, want {want[key]!r}")
            else:
                out += differences(got[key], want[key], where)
        return out
    return [] if got == want else [f"{path}: got {got!r}, want {want!r}"]


def test_shipped_configs_are_found():
    assert {p.name for p in SHIPPED} >= {"config.yaml", "paper.yaml", "zephyr.yaml"}


@pytest.mark.parametrize("config_file", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_a_config_file_is_used_alone(config_file, tmp_path):
    require_gguf_of(config_file)
    dry = run_snakemake("-n", "all_figures", "--cores", "1", "--configfile", str(config_file))
    assert dry.returncode == 0, (dry.stdout + dry.stderr)[-4000:]
    assert "extended by" not in dry.stdout + dry.stderr, (
        "another config file was merged under the one given"
    )
    resolved, _ = resolve(tmp_path, "--configfile", str(config_file))
    want = expected_config(config_file)
    assert resolved == want, "\n".join(differences(resolved, want))


def test_default_is_the_toy_config(tmp_path):
    resolved, _ = resolve(tmp_path)
    assert resolved == expected_config(REPO / "config" / "config.yaml")


def test_command_line_values_apply_on_top(tmp_path):
    paper = REPO / "config" / "paper.yaml"
    seed = yaml.safe_load(paper.read_text())["seed"] + 1
    resolved, _ = resolve(
        tmp_path / "paper", "--configfile", str(paper), "--config", f"seed={seed}"
    )
    assert resolved == expected_config(paper, {"seed": seed})
    toy = REPO / "config" / "config.yaml"
    resolved, _ = resolve(tmp_path / "toy", "--config", f"seed={seed}")
    assert resolved == expected_config(toy, {"seed": seed})


def test_resolved_config_reproduces_itself(tmp_path):
    """config.resolved.yaml given back with --configfile resolves to itself."""
    first, _ = resolve(tmp_path / "a", "--configfile", str(REPO / "config" / "paper.yaml"))
    again_file = tmp_path / "resolved.yaml"
    again_file.write_text(yaml.safe_dump(copy.deepcopy(first)))
    again, _ = resolve(tmp_path / "b", "--configfile", str(again_file))
    assert again == first
