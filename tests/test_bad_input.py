"""Bad input fails with an error that says where (file, line, key), before expensive work.

D: a truncated safetensors file, a malformed JSONL line, a recipe with bad JSON, a ratio
given as a string or a meta.alpha that disagrees with the ratios.
E: empty or invalid prompt files fail before the models are loaded; a recipe's layer
count is compared with the model's config before any weights are read.
F: pairs that cannot be merged; data files in the wrong schema for their loader.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from alignment_tax import merging, recipes
from alignment_tax.io import read_jsonl
from test_loaders import run_rule_script
from test_merging import save_pair, tiny_config

MA_POLICIES = {"norms": "part", "embeddings": "part", "lm_head": "part"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return save_pair(tmp_path_factory.mktemp("pair"), layers=3)


def _recipe(pair, **changes):
    recipe = recipes.make_recipe(
        "rsf/ma/alpha0.4",
        theta0=pair[0],
        theta=pair[1],
        layer_ratios=[0.4] * 3,
        global_ratio=0.4,
        policies=MA_POLICIES,
        meta={"method": "ma", "alpha": 0.4},
    )
    return {**recipe, **changes}


# --------------------------------------------------------------------------- D


def test_truncated_safetensors_names_the_file(pair, tmp_path):
    import shutil

    broken = tmp_path / "theta"
    shutil.copytree(pair[1], broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-200])
    for load in (
        lambda: merging.validate_pair(pair[0], broken),
        lambda: merging.read_shapes(broken),
        lambda: recipes.materialize(_recipe(pair, theta0=str(broken), theta=str(broken))),
    ):
        with pytest.raises(ValueError, match=f"{weights}.*truncated or corrupt"):
            load()


def test_malformed_jsonl_names_path_and_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"prompt": "a"}\n\n{"prompt": "b"}\n{"prompt": "c",\n')
    with pytest.raises(ValueError, match=rf"{path}, line 4: not valid JSON"):
        read_jsonl(path)
    path.write_text('{"prompt": "a"}\n{"text": "b"}\n')
    with pytest.raises(ValueError, match=rf"{path}, line 2: missing field 'prompt'"):
        read_jsonl(path, required=("prompt",))
    from alignment_tax.training_common import read_preference_pairs, read_prompts

    with pytest.raises(ValueError, match=rf"{path}, line 2: missing field 'prompt'"):
        read_prompts(path)
    path.write_text('{"chosen": "\\n\\nHuman: a\\n\\nAssistant: b"}\n')
    with pytest.raises(ValueError, match=rf"{path}, line 1: missing field 'rejected'"):
        read_preference_pairs(path)
    from alignment_tax.adamerging import load_qa_pairs

    path.write_text('{"prompt": "a", "answer": "b"}\n{"prompt": "c" "answer": "d"}\n')
    with pytest.raises(ValueError, match=rf"{path}, line 2: not valid JSON"):
        load_qa_pairs([path], n=1, seed=0)


def test_recipe_with_bad_json_names_the_file(tmp_path, pair):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_recipe(pair))[:-5])
    with pytest.raises(ValueError, match=rf"recipe {path}: not valid JSON \(line 1"):
        recipes.load_recipe(path)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"layer_ratios": [0.4, "0.4", 0.4]}, r"layer_ratios\[1\]"),
        ({"global_ratio": "0.4"}, "global_ratio"),
        ({"num_layers": "3"}, "num_layers"),
        ({"theta": None}, "theta"),
        ({"layer_ratios": [0.4, True, 0.4]}, r"layer_ratios\[1\]"),
    ],
)
def test_recipe_with_a_wrong_type_names_file_and_key(tmp_path, pair, changes, key):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_recipe(pair, **changes)))
    with pytest.raises(ValueError, match=rf"recipe {path}: key '{key}'"):
        recipes.load_recipe(path)


@pytest.mark.parametrize(
    "changes",
    [
        {"meta": {"method": "ma", "alpha": 0.2}},  # ratios say 0.4
        {"global_ratio": 0.2},
        {"layer_ratios": [0.4, 0.4, 0.6]},
        {"meta": {"method": "hma", "alpha": 0.3, "part_ratios": [0.4, 0.4, 0.4]}},
        {"meta": {"method": "partwise", "alpha": 0.2, "part_ratios": [0.4, 0.0, 0.0]}},
        {
            "meta": {
                "method": "pattern",
                "alpha": 0.4,
                "pattern": "a|a|a-0.1",
                "part_ratios": [0.4, 0.4, 0.4],
            }
        },
        {
            "meta": {
                "method": "hma",
                "alpha": 0.4,
                "part_ratios": [0.4, 0.4, 0.4],
                "part_ranges": [[0, 1], [1, 2], [2, 3]],
            },
            "layer_ratios": [0.3, 0.4, 0.5],
        },
    ],
)
def test_recipe_whose_alpha_disagrees_with_its_ratios_is_refused(tmp_path, pair, changes):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_recipe(pair, **changes)))
    with pytest.raises(ValueError, match=f"recipe {path}: .*(meta.alpha|meta.part_ratios)"):
        recipes.load_recipe(path)


def test_consistent_recipes_of_every_method_load(pair):
    from alignment_tax import variants

    config = {
        "run_name": "t",
        "seed": 0,
        "stages": {"training": True},
        "rlhf": {"algorithms": ["rsf"]},
        "merging": {
            "ma": {"alphas": [0.4]},
            "partwise": {"alphas": [0.4], "parts": ["input", "output"]},
            "patterns": {"bases": [0.3], "patterns": ["a|a-0.1|a-0.2"]},
        },
    }
    ids = variants.variant_ids(config, ["plain", "ma", "partwise", "pattern"])
    assert len(ids) == 6
    for variant_id in ids:
        spec = variants.recipe_spec(config, variant_id)
        recipes.load_recipe(recipes.recipe_from_spec(spec, 3))
    spec = {**variants.recipe_spec(config, "rsf/ma/alpha0.4"), "K": 3}
    spec["meta"] = {**spec["meta"], "method": "hma"}
    recipes.recipe_from_spec(spec, 3, part_ratios=[0.2, 0.4, 0.6])
    # the same fit with part ratios whose mean is not the variant's alpha
    with pytest.raises(ValueError, match="meta.alpha = 0.4 disagrees with the mean"):
        recipes.recipe_from_spec(spec, 3, part_ratios=[0.2, 0.4, 0.9])


# --------------------------------------------------------------------------- E


def test_layer_count_is_checked_before_loading_weights(pair, monkeypatch):
    recipe = _recipe(pair, num_layers=4, layer_ratios=[0.4] * 4)
    cache = recipes.ModelCache()
    loaded = []
    monkeypatch.setattr(cache, "_load", lambda d: loaded.append(d))
    with pytest.raises(ValueError, match="4 layer ratios but the model .* has 3 layers"):
        recipes.materialize(recipe, cache)
    assert not loaded


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no eval prompts"),
        ('{"prompt": "a"}\n{"question": "b"}\n', "line 2: missing field 'prompt'"),
        ('{"prompt": "a"}\n{"prompt": ""}\n', "line 2: field 'prompt' must be a non-empty"),
        ('{"prompt": "a"}\n', "n_prompts = 2 but only 1"),
    ],
)
def test_evaluate_reward_checks_prompts_before_loading(tmp_path, monkeypatch, text, message):
    prompts = tmp_path / "eval.jsonl"
    prompts.write_text(text)
    with pytest.raises(ValueError, match=f"{prompts}.*{message}"):
        run_rule_script(
            "evaluate_reward",
            monkeypatch,
            # neither exists: reaching them would fail differently
            input={
                "recipe": str(tmp_path / "no_recipe.json"),
                "reward_model": str(tmp_path / "no_rm"),
                "prompts": str(prompts),
            },
            params={
                "seed": 0,
                "hidden_reward": False,
                "dtype": "float32",
                "n_prompts": 2,
                "loading": {"use_fast": True, "trust_remote_code": False},
            },
            wildcards={"variant": "rsf/ma/alpha0.4"},
        )


def test_build_hma_dataset_fails_before_generating(tmp_path, monkeypatch):
    prompts = tmp_path / "rlhf_train.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"q{i}"}) + "\n" for i in range(5)))
    common = dict(
        input={"theta": str(tmp_path / "no_theta"), "prompts": str(prompts)},
        output={"data": str(tmp_path / "d.jsonl")},
        wildcards={"pair": "rsf"},
    )
    with pytest.raises(ValueError, match=f"{prompts}: 5 prompts .*n_top_samples = 10"):
        run_rule_script(
            "build_hma_dataset",
            monkeypatch,
            **common,
            params={"seed": 0, "n_prompts": None, "n_top": 10},
        )
    prompts.write_text('{"prompt": "a"}\n{"answer": "b"}\n')
    with pytest.raises(ValueError, match=f"{prompts}, line 2: missing field 'prompt'"):
        run_rule_script(
            "build_hma_dataset",
            monkeypatch,
            **common,
            params={"seed": 0, "n_prompts": None, "n_top": 1},
        )
    assert not (tmp_path / "d.jsonl").exists()


def test_hma_prompt_count_is_checked_with_the_config():
    from alignment_tax.config_checks import ConfigError, check_config
    from conftest import load_config

    config = load_config("config")
    config["merging"]["hma"]["n_prompts"] = 100  # n_top_samples is 400
    with pytest.raises(ConfigError, match="merging.hma.n_prompts"):
        check_config(config)


def test_tiny_pairrm_head_count_is_checked_with_the_config():
    from alignment_tax.config_checks import ConfigError, check_config
    from conftest import load_config

    config = load_config("config")
    config["stages"]["pairrm"] = True
    config["evaluation"]["pairrm"].update(
        source="tiny", tiny={"seed": 0, "hidden_size": 30, "num_attention_heads": 4}
    )
    with pytest.raises(ConfigError, match="evaluation.pairrm.tiny.hidden_size"):
        check_config(config)
    config["evaluation"]["pairrm"]["tiny"]["hidden_size"] = 32
    check_config(config)


@pytest.mark.parametrize(
    "section, key, value, fault",
    [
        # 15 sequences cannot be split over 2 processes
        ("sft", "batch_size", 15, "sft.batch_size"),
        # 12 = 2 x 2 x 3, but a micro batch of 4 x 2 processes does not divide 12
        ("reward_model", "micro_batch_size", 4, "reward_model.batch_size"),
        ("rlhf.dpo", "batch_size", 5, "rlhf.dpo.batch_size"),
        ("rlhf.ppo", "batch_size", 5, "rlhf.ppo.batch_size"),  # not a multiple of 2
        ("baselines", "batch_size", 7, "baselines.batch_size"),
    ],
)
def test_batches_that_do_not_split_over_the_processes_stop_the_config(
    section, key, value, fault
):
    """The lane's 2 training processes: a global batch that does not split into micro
    batches x processes x accumulation fails at parse time, naming the key, instead of
    when its stage starts after the stages before it have trained."""
    import yaml
    from alignment_tax.config_checks import ConfigError, check_batch_layouts
    from conftest import REPO

    config = yaml.safe_load((REPO / "config" / "real_cpu.yaml").read_text())
    check_batch_layouts(config)  # as shipped: every batch splits
    target = config
    for part in section.split("."):
        target = target[part]
    target[key] = value
    with pytest.raises(ConfigError, match=f"config key '{fault}'"):
        check_batch_layouts(config)


# --------------------------------------------------------------------------- F


def test_pairs_that_differ_in_hidden_size_layers_or_vocabulary_are_refused(tmp_path, pair):
    from transformers import AutoModelForCausalLM

    for name, cfg, key in (
        ("wide", tiny_config(layers=3, hidden=64), "hidden_size"),
        ("deep", tiny_config(layers=4), "num_hidden_layers"),
        ("vocab", tiny_config(layers=3, vocab=50), "vocab_size"),
    ):
        torch.manual_seed(0)
        AutoModelForCausalLM.from_config(cfg).save_pretrained(tmp_path / name)
        with pytest.raises(merging.PairMismatchError, match=key):
            merging.validate_pair(pair[0], tmp_path / name)


def test_sharegpt_in_the_wrong_schema_names_source_row_and_field(tmp_path):
    from alignment_tax.hub_data import sharegpt_to_records
    from alignment_tax.training_common import sharegpt_to_prompt_completion

    good = {
        "id": "a",
        "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}],
    }
    with pytest.raises(ValueError, match="sharegpt.json: row 1 .*'conversations'"):
        sharegpt_to_records([good, {"id": "b", "messages": []}], source="sharegpt.json")
    bad_turn = {"id": "c", "conversations": [{"role": "user", "content": "hi"}]}
    with pytest.raises(ValueError, match="ShareGPT: a turn of row 1 .*'from'"):
        sharegpt_to_records([good, bad_turn])
    path = tmp_path / "sharegpt.json"
    path.write_text(json.dumps([good, {"id": "b", "messages": []}]))
    with pytest.raises(ValueError, match=f"{path}: conversation 1 .*'conversations'"):
        sharegpt_to_prompt_completion(path)
    path.write_text(json.dumps([good, bad_turn]))
    with pytest.raises(ValueError, match=f"{path}: conversation 1 .*'from' and 'value'"):
        sharegpt_to_prompt_completion(path)


def test_hh_rlhf_in_the_wrong_schema_names_source_row_and_field(tmp_path, monkeypatch):
    from alignment_tax import hub_data

    rows = {
        "train": [{"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "x"}],
        "test": [{"chosen": "\n\nHuman: a\n\nAssistant: b"}],
    }
    monkeypatch.setattr(
        hub_data, "load_hub_dataset", lambda spec, key="datasets": rows[spec["split"]]
    )
    out = {
        k: str(tmp_path / f"{k}.json")
        for k in ("sharegpt", "hh_train", "hh_test", "rlhf_prompts", "eval_prompts")
    }
    with pytest.raises(ValueError, match=r"Anthropic/hh-rlhf \(test\): row 0 .*'rejected'"):
        hub_data.prepare_paper_data({"hh_rlhf": {"hub_id": "Anthropic/hh-rlhf"}}, out, 0)
    assert not any(Path(p).exists() for p in out.values())


def test_alpaca_eval_in_the_wrong_schema_names_file_row_and_field(tmp_path):
    from alignment_tax.pairrm import fetch_alpaca_eval

    path = tmp_path / "alpaca_eval.json"
    path.write_text(json.dumps([{"instruction": "a", "output": "b"}, {"instruction": "c"}]))
    with pytest.raises(ValueError, match=f"{path}: AlpacaEval row 1 .*'output'"):
        fetch_alpaca_eval({"local_files": str(path)})
