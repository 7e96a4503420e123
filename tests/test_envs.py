"""The conda environments of the rule groups pin exactly what requirements.txt pins."""

import re

import pytest
import yaml
from conftest import REPO

ENVS = sorted((REPO / "envs").glob("*.yaml"))


def _name(spec: str) -> str:
    return re.split(r"[\[=<>~!]", spec, maxsplit=1)[0].strip().lower()


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert "==" in line, f"requirements.txt: '{line}' is not pinned with =="
            pins[_name(line)] = line
    return pins


def test_rule_groups_have_envs():
    assert {p.stem for p in ENVS} == {"data", "training", "merging", "evaluation", "plotting"}


@pytest.mark.parametrize("env_file", ENVS, ids=[p.stem for p in ENVS])
def test_env_pins_match_requirements(env_file):
    pins = requirement_pins()
    env = yaml.safe_load(env_file.read_text())
    pip_specs = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
    assert pip_specs, f"{env_file.name} installs nothing"
    for spec in pip_specs:
        assert _name(spec) in pins, f"{env_file.name}: {spec} is not in requirements.txt"
        assert spec == pins[_name(spec)], f"{env_file.name}: {spec} != {pins[_name(spec)]}"


def test_every_rule_env_exists():
    for smk in (REPO / "rules").glob("*.smk"):
        for env in re.findall(r'"\.\./envs/([^"]+)"', smk.read_text()):
            assert (REPO / "envs" / env).exists(), f"{smk.name} names missing envs/{env}"
