"""The real-model lane end to end: config/real_cpu.yaml (SmolLM2-135M-Instruct from its GGUF
file, the paper's code path, 2 training processes on the CPU), then what its outputs must
show.

With REAL_LANE=1 (.ci/run sets it) this runs ``snakemake --cores 2 all_figures`` plus the
export of the fitted HMA model, from whatever state results/real_cpu/ is in (a no-op when it
is up to date); otherwise it checks an existing lane run and skips when there is none.
The assertions read the run's own outputs: which code ran is checked from what it wrote
(the models' configs, the lm-eval results, the training logs), not from the config.
"""

import json
import math
import os
import re
import time

import pandas as pd
import pytest
import yaml
from alignment_tax.artifact_catalogue import buildable_artifacts
from conftest import (
    REPO,
    assert_artifacts_are_valid_files_from_current_tables,
    require_gguf_of,
    run_snakemake,
)

CONFIG_FILE = REPO / "config" / "real_cpu.yaml"
CONFIG = yaml.safe_load(CONFIG_FILE.read_text())
RESULTS = REPO / "results" / CONFIG["run_name"]
LOGS = REPO / "logs" / CONFIG["run_name"]
TABLE = RESULTS / "tables" / "scores_long.csv"
# the model the lane exports (rule export_recipe): its fitted HMA, K = 3
EXPORTED = "rsf/hma/K3/alpha{}".format(CONFIG["merging"]["hma"]["alphas"][0])
# SmolLM2-135M: 30 decoder layers, so the authors' 3-part split is [0,8) [8,16) [16,30)
PARTS = {"input": range(0, 8), "middle": range(8, 16), "output": range(16, 30)}

pytestmark = pytest.mark.slow


def _complete(config: dict) -> dict:
    from snakemake.utils import validate

    validate(config, str(REPO / "config" / "schema" / "config.schema.yaml"))
    return config


@pytest.fixture(scope="module")
def lane():
    if os.environ.get("REAL_LANE") == "1":
        require_gguf_of(CONFIG_FILE)
        start = time.perf_counter()
        result = run_snakemake(
            "--cores", "2", "all_figures", f"results/{CONFIG['run_name']}/export/{EXPORTED}",
            "--configfile", str(CONFIG_FILE), timeout=3600,
        )  # fmt: skip
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
        print(f"real-model lane: {time.perf_counter() - start:.0f} s wall")
    elif not (RESULTS / "figures").exists():
        pytest.skip("no real-model lane run here; set REAL_LANE=1 (about 25 minutes)")
    return RESULTS


def test_theta_pre_is_the_real_model(lane):
    config = json.loads((lane / "models" / "base" / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 30
    assert "quantization_config" not in config  # de-quantized, a plain checkpoint
    assert list((lane / "models" / "base").glob("*.safetensors"))
    tokenizer = json.loads((lane / "models" / "base" / "tokenizer_config.json").read_text())
    template = tokenizer.get("chat_template") or (
        lane / "models" / "base" / "chat_template.jinja").read_text()
    assert "<|im_start|>" in template  # SmolLM2's ChatML template travelled with it


def test_every_training_job_ran_in_two_gloo_processes(lane):
    training = sorted((LOGS / "training").glob("train_*.log"))
    baselines = sorted((LOGS / "baselines" / "rsf").rglob("*.log"))
    stages = {re.sub(r"_(beta|kl)[0-9.]+$", "", p.stem) for p in training}
    assert stages == {"train_sft", "train_reward_model", "train_rsf", "train_dpo",
                      "train_ppo_warmup", "train_ppo"}, stages
    # every trained baseline kind (early stopping is an RSF checkpoint, PPO-KL a PPO run)
    assert {p.parent.name for p in baselines} == {
        "l1", "l2", "lora_mlp", "lora_mlp_attn", "distillation", "sma", "replay"}
    logs = training + baselines
    for path in logs:
        text = path.read_text(errors="replace")
        for rank in (0, 1):
            # the job's 2 threads split between its 2 processes (no oversubscription)
            assert (
                f"process {rank} of 2 (DistributedType.MULTI_CPU, backend gloo, torch threads 1)"
                in text
            ), path


def test_every_variant_has_finite_scores_from_lm_evals_real_tasks(lane):
    scores = pd.read_csv(TABLE)
    benchmarks = CONFIG["evaluation"]["benchmarks"]
    variants = set(scores["variant"])
    assert {"sft", "rsf/theta", "dpo/theta", "ppo/theta"} <= variants
    for group, tasks in benchmarks.items():
        for variant in variants:
            result = json.loads((lane / "eval" / variant / f"{group}.json").read_text())
            assert result["settings"]["task_source"] == "lm-eval", (variant, group)
            assert set(result["settings"]["local_task_data"]) == set(tasks)
            assert set(result["lm_eval_results"]) >= set(tasks)
            for task in tasks:
                assert result["tasks"][task]["n"] == CONFIG["evaluation"]["limit"]
                assert math.isfinite(result["tasks"][task]["value"]), (variant, task)
    for category in [*benchmarks, "reward"]:
        rows = scores[scores["group"] == category]
        assert set(rows["variant"]) == variants, category
        assert rows["value"].map(math.isfinite).all(), category


def test_every_baseline_kind_and_merge_method_is_in_the_tables(lane):
    variants = set(pd.read_csv(TABLE)["variant"])
    kinds = {v.split("/")[1] for v in variants if v.count("/") >= 2}
    assert {"early_stopping", "l1", "l2", "lora_mlp", "lora_mlp_attn", "distillation", "sma",
            "replay", "ppo_kl", "ma", "part_input", "part_middle", "part_output",
            "hma"} <= kinds, kinds
    assert any(k.startswith("pattern_") for k in kinds)


@pytest.mark.parametrize("part", sorted(PARTS))
def test_partwise_ma_averages_the_authors_part_of_30_layers(lane, part):
    alpha = CONFIG["merging"]["partwise"]["alphas"][0]
    recipe = json.loads((lane / "recipes" / "rsf" / f"part_{part}" / f"alpha{alpha}.json")
                        .read_text())
    ratios = recipe["layer_ratios"]
    assert len(ratios) == 30
    assert [i for i, r in enumerate(ratios) if r != 0] == list(PARTS[part])


def test_hma_is_fitted_selected_and_exported(lane):
    selection = json.loads((lane / "recipes" / f"{EXPORTED}.selection.json").read_text())
    recipe = json.loads((lane / "recipes" / f"{EXPORTED}.json").read_text())
    assert len(recipe["layer_ratios"]) == 30
    assert selection  # the candidate chosen by held-out loss, recorded beside the model
    from transformers import AutoModelForCausalLM

    exported = lane / "export" / EXPORTED
    assert list(exported.glob("*.safetensors"))
    model = AutoModelForCausalLM.from_pretrained(exported, use_safetensors=True)
    assert model.config.num_hidden_layers == 30


def test_every_lane_artifact_is_a_valid_file_from_the_current_tables(lane):
    names = buildable_artifacts(_complete(yaml.safe_load(CONFIG_FILE.read_text())))
    assert len(names) >= 10
    assert_artifacts_are_valid_files_from_current_tables(lane, names)
    claims = pd.read_csv(lane / "tables" / "paper_claims.csv")
    assert len(claims) > 0 and (claims["n_points"] > 0).all()


def test_the_chosen_variants_are_judged_by_the_tiny_local_pairrm(lane):
    """PairRM's path (AlpacaEval answers, both orders, win rates, tables) ran with the
    ranker rule build_tiny_pairrm built, never a fetched one, on the variants the config
    names (evaluation.pairrm.variants)."""
    ranker = lane / "hub" / "pairrm"
    built = json.loads((ranker / "tiny_pairrm.json").read_text())
    assert built["seed"] == CONFIG["evaluation"]["pairrm"]["tiny"]["seed"]
    assert json.loads((ranker / "config.json").read_text())["hidden_size"] == \
        CONFIG["evaluation"]["pairrm"]["tiny"]["hidden_size"]
    assert not (LOGS / "fetch_pairrm.log").exists()
    scores = pd.read_csv(TABLE)
    variants = set(CONFIG["evaluation"]["pairrm"]["variants"])
    assert variants < set(scores["variant"])
    n_prompts = CONFIG["evaluation"]["pairrm"]["n_prompts"]
    for variant in variants:
        result = json.loads((lane / "eval" / variant / "pairrm.json").read_text())
        assert result["pairrm_model"].startswith("tiny random DebertaV2PairRM"), variant
        assert len(result["samples"]) == n_prompts
        assert all(math.isfinite(s["logit_model_first"]) and
                   math.isfinite(s["logit_model_second"]) for s in result["samples"])
    rows = scores[scores["group"] == "pairrm"]
    assert set(rows["variant"]) == variants
    assert set(rows["metric"]) >= {"win_rate_one_order", "win_rate_both_orders"}


def test_table1s_judge_ran_through_alpaca_eval_against_the_loopback(lane):
    """The AlpacaEval 2.0 path (alpaca_eval's annotator, its cache, the length-controlled
    win rate) ran on the judged variants against the job's own loopback server, and says
    so in its output."""
    scores = pd.read_csv(TABLE)
    judged = CONFIG["evaluation"]["gpt4_judge"]["variants"]
    for variant in judged:
        result = json.loads((lane / "eval" / variant / "gpt4.json").read_text())
        assert result["loopback"] is True and "NOT GPT-4" in result["judge"], variant
    rows = scores[scores["group"] == "gpt4"]
    assert set(rows["variant"]) == set(judged)
    assert rows["value"].map(math.isfinite).all()


def test_the_lane_downloaded_nothing(lane):
    """Every job's log is free of hub traffic (the lane's data and models are local)."""
    hub = re.compile(r"https://(huggingface\.co|hf\.co|cdn-lfs)")
    for path in LOGS.rglob("*.log"):
        assert not hub.search(path.read_text(errors="replace")), path
