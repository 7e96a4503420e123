"""Merge engine: parts, ratio maps, endpoints, recipes, variants and pair checks.

Convention: a ratio is the weight on theta0 (merged = r * theta0 + (1 - r) * theta).
All models are tiny, randomly initialised and built locally.
"""

from __future__ import annotations

import json

import pytest
import torch
from alignment_tax import merging, recipes, variants

WORDS = ["<pad>", "<unk>", "</s>", "Human:", "Assistant:", "the", "a", "cat", "dog", "sat",
         "on", "mat", "red", "blue", "is", "what", "colour", "yes", "no", "Paris", "France"]


def tiny_tokenizer(extra: tuple[str, ...] = ()):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate([*WORDS, *extra])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>")


def tiny_config(arch: str = "llama", layers: int = 4, vocab: int = 32, hidden: int = 32):
    from transformers import LlamaConfig, MistralConfig, Qwen2Config

    cls = {"llama": LlamaConfig, "mistral": MistralConfig, "qwen2": Qwen2Config}[arch]
    return cls(vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden,
               num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
               max_position_embeddings=64, tie_word_embeddings=False)


def tiny_model(config, seed: int):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():  # norms start at 1 in both models: make them differ too
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def save_pair(tmp_path, arch="llama", layers=4, vocab=None, theta_tokenizer=None):
    """Save a (theta0, theta) pair of tiny models with a tokenizer; return their folders."""
    cfg = tiny_config(arch, layers, vocab or len(WORDS))
    dirs = []
    for name, seed in (("theta0", 0), ("theta", 1)):
        path = tmp_path / name
        tiny_model(cfg, seed).save_pretrained(path)
        tok = theta_tokenizer if (name == "theta" and theta_tokenizer) else tiny_tokenizer()
        tok.save_pretrained(path)
        dirs.append(str(path))
    return dirs


# --------------------------------------------------------------------------- parts


@pytest.mark.parametrize(
    ("layers", "k", "expected"),
    [
        (26, 3, [(0, 8), (8, 16), (16, 26)]),
        (32, 3, [(0, 11), (11, 21), (21, 32)]),
        (6, 3, [(0, 2), (2, 4), (4, 6)]),
        (26, 6, [(0, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 26)]),
        (7, 2, [(0, 3), (3, 7)]),
        (6, 1, [(0, 6)]),
    ],
)
def test_part_ranges(layers, k, expected):
    assert merging.part_ranges(layers, k) == expected


def test_part_ranges_override_and_errors():
    assert merging.part_ranges(10, 3, [2, 7]) == [(0, 2), (2, 7), (7, 10)]
    assert merging.part_ranges(26, 6, [2, 7]) == merging.part_ranges(26, 6)  # other K
    with pytest.raises(ValueError, match="part_boundaries"):
        merging.part_ranges(10, 3, [7, 2])
    with pytest.raises(ValueError, match="K=9"):
        merging.part_ranges(6, 9)


def test_patterns():
    assert merging.pattern_ratios("a|a|a-0.1", 0.2) == [0.2, 0.2, 0.1]
    assert merging.pattern_ratios("a|a-0.1|a-0.1", 0.4) == [0.4, 0.3, 0.3]
    assert merging.pattern_ratios("a|a-0.3", 0.2) == [0.2, 0.0]  # clipped at 0
    with pytest.raises(ValueError, match="pattern"):
        merging.pattern_ratios("a|b", 0.2)


# --------------------------------------------------------------------------- ratio maps


def test_ratio_map_policies():
    names = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
             "model.layers.0.input_layernorm.weight", "model.layers.1.mlp.up_proj.weight",
             "model.norm.weight", "lm_head.weight"]
    ratios = merging.ratio_map(names, [0.3, 0.7], global_ratio=0.5,
                               policies={"norms": "part", "embeddings": "theta0",
                                         "lm_head": "alpha"})
    assert ratios == {names[0]: 1.0, names[1]: 0.3, names[2]: 0.3, names[3]: 0.7,
                      names[4]: 0.7, names[5]: 0.5}
    ratios = merging.ratio_map(names, [0.3, 0.7], global_ratio=0.5,
                               policies={"norms": "theta", "embeddings": "part",
                                         "lm_head": "part"})
    assert ratios[names[0]] == 0.3 and ratios[names[2]] == 0.0 and ratios[names[5]] == 0.7
    with pytest.raises(ValueError, match="outside"):
        merging.ratio_map(names, [1.3, 0.0], global_ratio=0.5,
                          policies={"norms": "part", "embeddings": "part", "lm_head": "part"})
    with pytest.raises(ValueError, match="neither"):
        merging.tensor_kind("vision_tower.patch.weight")


def _recipe(dirs, layer_ratios, global_ratio, method="ma"):
    return recipes.make_recipe(
        "test/x", theta0=dirs[0], theta=dirs[1], layer_ratios=layer_ratios,
        global_ratio=global_ratio, policies=variants.DEFAULT_POLICIES[method],
        meta={"method": method})


def test_endpoints_bit_for_bit(tmp_path):
    from transformers import AutoModelForCausalLM

    dirs = save_pair(tmp_path)
    sd0 = AutoModelForCausalLM.from_pretrained(dirs[0]).state_dict()
    sd1 = AutoModelForCausalLM.from_pretrained(dirs[1]).state_dict()
    cache = recipes.ModelCache()
    for alpha, expected in ((0.0, sd1), (1.0, sd0)):
        model = recipes.materialize(_recipe(dirs, [alpha] * 4, alpha), cache)
        got = model.state_dict()
        assert set(got) == set(expected)
        for name in expected:
            assert torch.equal(got[name], expected[name]), name
    # in between: exactly the fp32 interpolation, per tensor
    model = recipes.materialize(_recipe(dirs, [0.25] * 4, 0.25), cache)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, 0.25 * sd0[name] + 0.75 * sd1[name],
                                   rtol=0, atol=1e-6)


def test_partwise_keeps_rest_from_theta(tmp_path):
    from transformers import AutoModelForCausalLM

    dirs = save_pair(tmp_path, layers=6)
    sd0 = AutoModelForCausalLM.from_pretrained(dirs[0]).state_dict()
    sd1 = AutoModelForCausalLM.from_pretrained(dirs[1]).state_dict()
    ranges = merging.part_ranges(6, 3)
    layer_ratios = merging.layer_ratios_from_parts([0.0, 0.5, 0.0], ranges)
    got = recipes.materialize(_recipe(dirs, layer_ratios, 0.5, "partwise")).state_dict()
    for name, tensor in got.items():
        kind, layer = merging.tensor_kind(name)
        if layer in (2, 3):
            torch.testing.assert_close(tensor, 0.5 * sd0[name] + 0.5 * sd1[name])
        else:  # other layers, embeddings (input part), final norm, lm_head (output part)
            assert torch.equal(tensor, sd1[name]), name


def test_cache_reuses_loaded_models(tmp_path, monkeypatch):
    dirs = save_pair(tmp_path)
    cache = recipes.ModelCache()
    calls = []
    original = cache._load
    monkeypatch.setattr(cache, "_load", lambda d: calls.append(d) or original(d))
    for alpha in (0.1, 0.5, 0.9):
        recipes.materialize(_recipe(dirs, [alpha] * 4, alpha), cache)
    assert len(calls) == 2  # theta0 and theta, once each


def test_recipe_roundtrip_and_export(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dirs = save_pair(tmp_path)
    recipe = _recipe(dirs, [0.2, 0.2, 0.6, 0.6], 0.4, "pattern")
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recipe))
    assert path.stat().st_size < 4096
    assert recipes.load_recipe(path) == recipe
    out = tmp_path / "export"
    recipes.export_recipe(path, out)
    exported = AutoModelForCausalLM.from_pretrained(out)
    built = recipes.materialize(recipe)
    for name, tensor in built.state_dict().items():
        assert torch.equal(exported.state_dict()[name], tensor)
    assert AutoTokenizer.from_pretrained(out).get_vocab() == tiny_tokenizer().get_vocab()
    assert (out / "model.safetensors").exists() and (out / "recipe.json").exists()


def test_bad_recipe_errors(tmp_path):
    dirs = save_pair(tmp_path)
    recipe = _recipe(dirs, [0.2] * 4, 0.2)
    with pytest.raises(ValueError, match="layer_ratios"):
        recipes.load_recipe({**recipe, "num_layers": 5})
    with pytest.raises(ValueError, match="policies"):
        recipes.load_recipe({**recipe, "policies": {"norms": "mean"}})
    with pytest.raises(ValueError, match="6 layers|4 layer"):
        recipes.materialize({**recipe, "num_layers": 6, "layer_ratios": [0.2] * 6})


# --------------------------------------------------------------------------- pair checks


def test_mismatched_pairs_fail_before_loading(tmp_path):
    from transformers import AutoModelForCausalLM

    good0, _ = save_pair(tmp_path / "a", layers=4)
    _, deeper = save_pair(tmp_path / "b", layers=6)
    with pytest.raises(merging.PairMismatchError, match="num_hidden_layers"):
        merging.validate_pair(good0, deeper)
    _, mistral = save_pair(tmp_path / "c", arch="mistral", layers=4)
    with pytest.raises(merging.PairMismatchError, match="model_type|architectures"):
        merging.validate_pair(good0, mistral)
    _, other_vocab = save_pair(tmp_path / "d", layers=4, theta_tokenizer=tiny_tokenizer(("x",)))
    with pytest.raises(merging.PairMismatchError, match="tokenizers differ"):
        merging.validate_pair(good0, other_vocab)
    # a different vocabulary size (embedding shapes)
    wide = tmp_path / "e"
    AutoModelForCausalLM.from_config(tiny_config(hidden=32)).save_pretrained(wide)
    with pytest.raises(merging.PairMismatchError):
        merging.validate_pair(good0, str(wide))
    # materialize checks the pair before loading any weights
    recipe = _recipe([good0, deeper], [0.5] * 4, 0.5)
    cache = recipes.ModelCache()
    with pytest.raises(merging.PairMismatchError):
        recipes.materialize(recipe, cache)
    assert cache._model is None and not cache._state  # nothing was loaded


# --------------------------------------------------------------------------- variants


def _toy_config(**merging_overrides):
    import yaml

    with open("config/config.yaml") as handle:
        config = yaml.safe_load(handle)
    config["merging"].update(merging_overrides)
    return config


GRID = {
    "ma": {"alphas": [0.2, 0.5]},
    "partwise": {"alphas": [0.5], "parts": ["input", "middle", "output"]},
    "patterns": {"bases": [0.3, 0.4], "patterns": ["a|a|a", "a|a|a-0.1", "a|a-0.1|a-0.1"]},
}


def test_variant_ids_are_unique_and_stable():
    config = _toy_config(**GRID)
    ids = variants.variant_ids(config)
    assert len(ids) == len(set(ids))
    assert "sft" in ids and "rsf/theta" in ids and "rsf/ma/alpha0.2" in ids
    assert "dpo/part_input/alpha0.5" in ids
    assert "ppo/pattern_a_a_a-0.1/alpha0.3" in ids
    assert "rsf/hma/K3/alpha0.2" in ids  # the selected candidate (lr, epsilon): no lr in the id
    assert "rsf/adamerging/alpha0.4" in ids
    assert all(" " not in i and "|" not in i for i in ids)
    v = variants.get_variant(config, "rsf/pattern_a_a-0.1_a-0.1/alpha0.4")
    assert v.part_ratios == (0.4, 0.3, 0.3) and v.meta["algorithm"] == "rsf"
    assert variants.variant_model_dirs(config, "dpo/ma/alpha0.5") == [
        "results/toy/models/sft", "results/toy/models/rlhf/dpo"]


def test_partwise_pattern_and_hma_sweeps_only_for_the_pairs_named():
    config = _toy_config(**GRID)
    config["merging"]["patterns"]["pairs"] = ["rsf"]
    config["merging"]["partwise"]["pairs"] = ["dpo"]
    config["merging"]["hma"].update(Ks=[3, 6], lrs=[1e-3, 5e-2], sweep_pairs=["rsf"])
    ids = variants.variant_ids(config)
    assert {i.split("/")[0] for i in ids if "/part_" in i} == {"dpo"}
    assert "rsf/pattern_a_a_a-0.1/alpha0.3" in ids
    assert not any(i.startswith(("dpo/pattern", "ppo/pattern")) for i in ids)
    assert {"rsf/hma/K6/alpha0.2", "rsf/hma/K3/alpha0.2", "dpo/hma/K3/alpha0.2"} <= set(ids)
    assert not any(i.startswith("dpo/hma/K6") for i in ids)
    # candidate fits are not variants: one variant per (pair, K, alpha)
    assert not any("/lr" in i for i in ids)


def test_variants_for_public_pairs():
    config = _toy_config(**GRID)
    config["stages"]["training"] = False
    config["pairs"] = [{"name": "zephyr", "theta0": {"hub_id": "a/b"}, "theta": {"hub_id": "a/c"}}]
    ids = variants.variant_ids(config)
    assert "zephyr/theta0" in ids and "zephyr/ma/alpha0.5" in ids and "sft" not in ids
    assert not any("adamerging" in i for i in ids)
    assert variants.pair_dirs(config, "zephyr") == ("results/toy/hub/zephyr/theta0",
                                                    "results/toy/hub/zephyr/theta")


def test_policy_config_forms():
    assert variants.policies(_toy_config(norms="theta"), "ma")["norms"] == "theta"
    cfg = _toy_config(lm_head={"hma": "theta0"})
    assert variants.policies(cfg, "hma")["lm_head"] == "theta0"
    assert variants.policies(cfg, "ma")["lm_head"] == "part"
