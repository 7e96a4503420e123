"""Every shipped config validates; bad configs fail early with the key at fault named."""

import copy

import pytest
from alignment_tax.config_checks import ConfigError, check_config, pattern_offsets
from conftest import CONFIGS, load_config, run_snakemake
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

SCHEMA = str(CONFIGS["config"].parent / "schema" / "config.schema.yaml")


def validated(config: dict) -> dict:
    config = copy.deepcopy(config)
    validate(config, SCHEMA)
    check_config(config)
    return config


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_shipped_configs_validate(name):
    validated(load_config(name))


def test_defaults_are_filled_in(toy_config):
    del toy_config["merging"]["hma"]["epsilons"]
    del toy_config["evaluation"]["num_fewshot"]
    config = validated(toy_config)
    assert config["merging"]["hma"]["epsilons"] == [0.0]
    assert config["evaluation"]["num_fewshot"] == 0


def _set(config, dotted, value):
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

# (config, dotted key, bad value, text the error must contain)
BAD = [
    ("config", "seed", "one", "seed"),
    ("config", "seed", -1, "seed"),
    ("config", "run_name", "toy world!", "run_name"),
    ("config", "merging.ma.alphas", [0.0, 1.5], "alphas"),
    ("config", "merging.partwise.alphas", [-0.1], "alphas"),
    ("config", "merging.partwise.parts", ["top"], "parts"),
    ("config", "evaluation.benchmarks.reading", ["toy_reading_people", "squad_v9"], "reading"),
    ("config", "merging.hma.Ks", [3, 7], "merging.hma.Ks"),
    ("config", "merging.hma.lrs", [0.0], "lrs"),
    ("config", "merging.hma.lrs", {"rsf": [0.1], "dpo": [0.1]}, "merging.hma.lrs"),
    ("config", "merging.hma.epsilons", [2], "epsilons"),
    ("config", "merging.hma.n_heldout_samples", 300, "merging.hma.n_heldout_samples"),
    ("zephyr", "merging.hma.n_prompts", None, "merging.hma.n_prompts"),
    ("paper", "merging.hma.n_prompts", None, "merging.hma.n_prompts"),
    ("zephyr", "merging.hma.prompts.hub_id", _DELETE, "prompts"),
    ("config", "merging.norms", "average", "norms"),
    ("config", "rlhf.algorithms", ["rsf", "grpo"], "algorithms"),
    ("config", "rlhf.rsf.n_samples", 1, "n_samples"),
    ("config", "stages.toy_world", "yes", "toy_world"),
    ("config", "stages.unknown_stage", True, "unknown_stage"),
    ("config", "base_model", _DELETE, "base_model"),
    ("config", "merging.part_boundaries", [4, 2], "merging.part_boundaries"),
    ("config", "merging.part_boundaries", [2, 6], "merging.part_boundaries"),
    ("config", "merging.patterns.bases", [0.05], "merging.patterns.bases"),
    ("config", "merging.hma.n_train_samples", 100000, "merging.hma.n_train_samples"),
    ("config", "baselines.early_stopping_iterations", [2, 40], "early_stopping_iterations"),
    ("config", "toy_world.architecture.num_hidden_layers", 0, "num_hidden_layers"),
    ("config", "evaluation.gpt4_judge.api_key_env", "sk-secret-key", "api_key_env"),
    ("config", "resources.groups.train.gpus", -1, "gpus"),
    ("config", "merging.patterns.pairs", ["rsf", "grpo"], "merging.patterns.pairs"),
    ("config", "merging.partwise.pairs", ["rsf", "grpo"], "merging.partwise.pairs"),
    ("config", "merging.hma.sweep_pairs", ["zephyr"], "merging.hma.sweep_pairs"),
    ("paper", "base_model.hub_id", "not a hub id", "hub_id"),
    ("paper", "stages.toy_world", True, "toy"),
    ("zephyr", "pairs", [], "pairs"),
    ("zephyr", "pairs.0.theta", _DELETE, "theta"),
    ("zephyr", "pairs.1.name", "zephyr-7b-beta", "duplicate"),
    ("zephyr", "merging.hma.Ks", [33], "merging.hma.Ks"),
]


@pytest.mark.parametrize(
    ("name", "key", "value", "needle"), BAD, ids=[f"{b[1]}={b[2]!r}" for b in BAD]
)
def test_bad_config_names_the_key(name, key, value, needle):
    config = load_config(name)
    _set(config, key, value)
    with pytest.raises((WorkflowError, ConfigError)) as err:
        validated(config)
    assert needle in str(err.value)


def test_pattern_offsets():
    assert pattern_offsets("a|a|a-0.1") == [0.0, 0.0, -0.1]
    with pytest.raises(ConfigError, match="a\\+0.1"):
        pattern_offsets("a|a+0.1|a")


def test_snakemake_rejects_bad_config_before_any_job(tmp_path):
    config = load_config("config")
    config["merging"]["ma"]["alphas"] = [0.0, 1.2]
    bad = tmp_path / "bad.yaml"
    import yaml

    bad.write_text(yaml.safe_dump(config))
    result = run_snakemake("-n", "--configfile", str(bad), "--cores", "1")
    assert result.returncode != 0
    assert "alphas" in result.stderr + result.stdout
