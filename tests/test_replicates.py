"""Seeds as replicates: where each seed's chain writes, the tables averaged over seeds, the
three-seed toy configuration and its DAG (dry run only)."""

import re

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml
from alignment_tax.config_checks import ConfigError, check_config
from alignment_tax.eval_plan import eval_files, item_files
from alignment_tax.replicates import (
    aggregate_wide_tables,
    replicate_seeds,
    result_path,
    results_root,
    seed_config,
    shared_rules,
)
from alignment_tax.variants import pair_dirs
from conftest import REPO, load_config, run_snakemake

matplotlib.use("Agg")

REPLICATES = REPO / "config" / "toy_replicates.yaml"
PATHS = ("models/sft", "models/base", "models/baselines/rsf/l2/0.1", "models/tokenizer",
         "data/tasks", "hub/pair/theta", "eval/rsf/ma/alpha0.2/reward.json", "tables")


def test_one_seed_paths_are_todays():
    config = load_config("config")
    assert replicate_seeds(config) == [config["seed"]]
    for path in PATHS:
        assert result_path(config, path) == f"results/toy/{path}"
    no_key = {k: v for k, v in config.items() if k != "replicates"}
    assert replicate_seeds(no_key) == [config["seed"]]
    assert results_root(no_key) == "results/toy"


def test_replicate_seeds_rerun_the_chain_from_sft_and_share_the_data():
    config = yaml.safe_load(REPLICATES.read_text())
    assert replicate_seeds(config) == [1, 2, 3]
    second = seed_config(config, 2)
    assert config["seed"] == 1 and second["seed"] == 2  # a copy; the config is untouched
    root = "results/toy_replicates"
    assert result_path(second, "models/sft") == f"{root}/replicates/seed2/models/sft"
    # models/baselines is a chain's own, models/base (theta_pre) is shared
    assert result_path(second, "models/baselines/rsf/l2/0.1").startswith(f"{root}/replicates/")
    for shared in ("models/base", "models/tokenizer", "data/tasks", "data/pretrain.jsonl",
                   "hub/pair/theta"):
        assert result_path(second, shared) == f"{root}/{shared}"
    assert result_path(second, "models/sft", seed=1) == f"{root}/models/sft"
    assert pair_dirs(second, "rsf") == (f"{root}/replicates/seed2/models/sft",
                                        f"{root}/replicates/seed2/models/rlhf/rsf")
    assert all(f.startswith(f"{root}/replicates/seed2/eval/") for f in eval_files(second))
    items = item_files(second)
    assert any(f.endswith("/common_sense.items.csv") for f in items)
    assert any(f.endswith("/reward.json") for f in items)


def test_seed_must_be_a_replicate_seed():
    config = load_config("config")
    config["replicates"] = {"seeds": [2, 3]}
    with pytest.raises(ConfigError, match="replicates.seeds"):
        check_config(config)


def test_shared_rules_are_found_from_their_outputs():
    class Rule:
        def __init__(self, name, *output):
            self.name, self.output = name, output

    config = {"run_name": "r", "seed": 1, "replicates": {"seeds": [1, 2]}}
    rules = [Rule("make_data", "results/r/data/a.json", "results/r/data/tasks"),
             Rule("base", "results/r/models/base"),
             Rule("baseline", "results/r/models/baselines/rsf/{method}/{value}"),
             Rule("mixed", "results/r/data/x", "results/r/models/sft"),
             Rule("target")]
    assert shared_rules(config, rules) == ["all", "make_data", "base"]


def test_replicate_config_stands_alone_and_differs_only_in_its_seeds():
    default = load_config("config")
    replicates = yaml.safe_load(REPLICATES.read_text())
    assert replicates.pop("run_name") == "toy_replicates"
    assert replicates.pop("replicates") == {"seeds": [1, 2, 3]}
    default.pop("run_name"), default.pop("replicates", None)
    assert replicates == default, (
        "config/toy_replicates.yaml must be config/config.yaml with only run_name and "
        "replicates changed: run python scripts/sync_toy_replicates.py")


def _table(seed_offset, variants=("sft", "rsf/theta", "rsf/ma/alpha0.2")):
    rows = []
    for i, variant in enumerate(variants):
        rows.append({"variant": variant, "run": "toy", "method": "ma", "alpha": 0.2 * i,
                     "toy_task": 0.5 + 0.1 * i + seed_offset, "toy_task_stderr": 0.01,
                     "reading": 0.4 + seed_offset, "reading_stderr": 0.02,
                     "reward": 1.0 + i + 2 * seed_offset, "reward_stderr": 0.1})
    return pd.DataFrame(rows)


def test_aggregation_is_the_mean_and_standard_error_over_seeds():
    tables = [_table(0.0), _table(0.1), _table(-0.04)]
    out = aggregate_wide_tables(tables, [1, 2, 3]).set_index("variant")
    offsets = np.array([0.0, 0.1, -0.04])
    se = offsets.std(ddof=1) / np.sqrt(3)
    assert out.loc["rsf/theta", "reading"] == pytest.approx(0.4 + offsets.mean())
    assert out.loc["rsf/theta", "reading_stderr"] == pytest.approx(se)
    assert out.loc["rsf/theta", "reward_stderr"] == pytest.approx(2 * se)
    assert out.loc["sft", "toy_task"] == pytest.approx(0.5 + offsets.mean())
    assert (out["n_seeds"] == 3).all()
    assert out.loc["rsf/ma/alpha0.2", "alpha"] == pytest.approx(0.4)  # metadata kept
    assert out.loc["rsf/ma/alpha0.2", "method"] == "ma"


def test_aggregation_with_a_variant_missing_in_one_seed():
    tables = [_table(0.0), _table(0.2, variants=("sft", "rsf/theta"))]
    out = aggregate_wide_tables(tables, [1, 2]).set_index("variant")
    assert out.loc["rsf/ma/alpha0.2", "n_seeds"] == 1
    assert out.loc["rsf/ma/alpha0.2", "reading"] == pytest.approx(0.4)
    assert np.isnan(out.loc["rsf/ma/alpha0.2", "reading_stderr"])  # one seed: no error
    assert out.loc["sft", "reading"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="seeds"):
        aggregate_wide_tables(tables, [1])


def test_figures_draw_seed_error_bars_only_for_averaged_tables():
    import matplotlib.pyplot as plt
    from alignment_tax.figures import _seed_error_bars

    averaged = aggregate_wide_tables([_table(0.0), _table(0.1)], [1, 2])
    fig, ax = plt.subplots()
    _seed_error_bars(ax, averaged, "reward", "reading", color="C0")
    assert len(ax.containers) == 1  # one errorbar container
    fig2, ax2 = plt.subplots()
    _seed_error_bars(ax2, _table(0.0), "reward", "reading", color="C0")
    assert len(ax2.containers) == 0
    plt.close("all")


def test_dry_run_of_three_replicate_seeds():
    result = run_snakemake("all", "-n", "--cores", "2", "--configfile", str(REPLICATES))
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    for rule in ("train_sft", "train_reward_model", "train_rsf", "build_tables"):
        for prefix in ("", "seed2_", "seed3_"):
            assert counts.get(f"{prefix}{rule}") == "1", (prefix, rule)
    assert counts["evaluate_benchmark"] == counts["seed2_evaluate_benchmark"] \
        == counts["seed3_evaluate_benchmark"]
    # data, tokenizer and base model once; tables averaged per category; one claims job
    for rule in ("make_toy_world", "train_tokenizer", "pretrain_base_model", "paper_claims"):
        assert counts.get(rule) == "1" and f"seed2_{rule}" not in counts, rule
    assert counts["aggregate_replicates"] == "3"
    assert "results/toy_replicates/replicates/seed3/models/sft" in result.stdout
    assert "results/toy_replicates/tables/replicates/wide_reading.csv" in result.stdout


def test_rule_scripts_do_not_dispatch_on_the_rule_name():
    """Replicate seeds run every rule again under another name (`seed<k>_<rule>`), so a rule
    script that branches on `snakemake.rule` takes the wrong branch there: the stage must come
    from params or inputs (train_ppo.py did this, and seed k's PPO warm-up crashed)."""
    scripts = sorted((REPO / "workflow_scripts").glob("*.py"))
    offenders = [s.name for s in scripts if re.search(r"snakemake\.rule\s*[=!]=", s.read_text())]
    assert not offenders, offenders
