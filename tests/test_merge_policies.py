"""Merge policies mean the same thing in every shipped configuration, and the README's
table of which tensors each method touches is what the merge engine does.

Every config/*.yaml is checked (new configs are picked up by the glob) on tiny local
pairs: an untied LLaMA, a LLaMA with tied embeddings and a tiny Gemma (tied, as the
Zephyr-Gemma pair of config/zephyr.yaml). Convention: a ratio is the weight on theta0.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml
from alignment_tax import merging, recipes, variants
from alignment_tax.config_checks import ConfigError

REPO = Path(__file__).resolve().parents[1]
CONFIG_FILES = sorted((REPO / "config").glob("*.yaml"))
LAYERS = 6
ALPHA = 0.3
PARTS = ("input", "middle", "output")
# README rows (by their first cell) and the methods each stands for
README_ROWS = {
    "MA (whole model)": ("ma",),
    "model extrapolation (alpha < 0)": ("extrapolation",),
    "part-wise MA": ("partwise",),
    "fixed patterns, HMA, AdaMerging": ("pattern", "hma", "adamerging"),
}
README_COLUMNS = ("linear", "norm", "embeddings", "final_norm", "lm_head", "tied")


def _config(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _pair(tmp_path_factory, arch: str):
    """(theta0 dir, theta dir, state dicts) of a tiny pair whose every tensor differs."""
    from transformers import AutoModelForCausalLM, GemmaConfig, LlamaConfig

    common = dict(
        vocab_size=40,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    if arch == "gemma":
        cfg = GemmaConfig(**common, head_dim=16)
    else:
        cfg = LlamaConfig(**common, tie_word_embeddings=arch == "llama_tied")
    root = tmp_path_factory.mktemp(arch)
    dirs, states = [], []
    for name, seed in (("theta0", 0), ("theta", 1)):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(cfg).eval()
        with torch.no_grad():  # norms start equal in both models: make them differ
            for pname, p in model.named_parameters():
                if "norm" in pname:
                    p.add_(0.1 * torch.randn_like(p))
        model.save_pretrained(root / name)
        dirs.append(str(root / name))
        states.append({k: v.clone() for k, v in model.state_dict().items()})
    assert bool(cfg.tie_word_embeddings) == (arch != "llama")
    return dirs, states


@pytest.fixture(scope="module", params=["llama", "llama_tied", "gemma"])
def pair(request, tmp_path_factory):
    return request.param, *_pair(tmp_path_factory, request.param)


def _recipe(dirs, method, layer_ratios, alpha, policies, part_ratios=None):
    meta = {"method": method, "alpha": alpha}
    return recipes.make_recipe(
        f"t/{method}",
        theta0=dirs[0],
        theta=dirs[1],
        layer_ratios=layer_ratios,
        global_ratio=alpha,
        policies=policies,
        meta=meta,
    )


def _column(name: str, tied: bool) -> str:
    kind, _ = merging.tensor_kind(name)
    if tied and kind in ("embeddings", "lm_head"):
        return "tied"
    return kind


def _materialized(recipe, cache):
    return {k: v.clone() for k, v in recipes.materialize(recipe, cache).state_dict().items()}


# --------------------------------------------------------------------------- configs


@pytest.mark.parametrize("config_file", CONFIG_FILES, ids=lambda p: p.name)
def test_ma_endpoints_are_theta_and_theta0_bit_for_bit(config_file, pair):
    _, dirs, (sd0, sd1) = pair
    policies = variants.policies(_config(config_file), "ma")
    cache = recipes.ModelCache()
    for alpha, expected, label in ((0.0, sd1, "theta"), (1.0, sd0, "theta0")):
        got = _materialized(_recipe(dirs, "ma", [alpha] * LAYERS, alpha, policies), cache)
        assert set(got) == set(expected)
        differ = [n for n in expected if not torch.equal(got[n], expected[n])]
        assert not differ, f"{config_file.name}: MA at alpha {alpha} is not {label}: {differ}"


@pytest.mark.parametrize("config_file", CONFIG_FILES, ids=lambda p: p.name)
def test_partwise_leaves_everything_outside_the_part_at_theta(config_file, pair):
    arch, dirs, (sd0, sd1) = pair
    tied = arch != "llama"
    policies = variants.policies(_config(config_file), "partwise")
    ranges = merging.part_ranges(LAYERS, 3)
    cache = recipes.ModelCache()
    for index, part in enumerate(PARTS):
        ratios = [ALPHA if i == index else 0.0 for i in range(3)]
        recipe = _recipe(
            dirs, "partwise", merging.layer_ratios_from_parts(ratios, ranges), ALPHA, policies
        )
        got = _materialized(recipe, cache)
        start, end = ranges[index]
        for name, tensor in got.items():
            kind, layer = merging.tensor_kind(name)
            inside = (
                (layer is not None and start <= layer < end)
                or (part == "input" and kind == "embeddings" and not tied)
                or (part == "output" and kind in ("final_norm", "lm_head"))
                or (part == "output" and tied and kind == "embeddings")
            )
            if not inside:
                assert torch.equal(tensor, sd1[name]), (
                    f"{config_file.name}: part_{part} changed {name}, outside the part"
                )


def test_a_plain_policy_string_that_breaks_ma_is_refused():
    from alignment_tax.config_checks import check_merge_policies

    for key, value in (("norms", "theta0"), ("embeddings", "theta0"), ("lm_head", "theta")):
        config = _config(REPO / "config" / "config.yaml")
        config["merging"][key] = value
        with pytest.raises(ConfigError, match=f"merging.{key}"):
            check_merge_policies(config)
    config = _config(REPO / "config" / "config.yaml")
    config["merging"]["lm_head"] = {"partwise": "alpha"}
    with pytest.raises(ConfigError, match="merging.lm_head.*partwise"):
        check_merge_policies(config)


@pytest.mark.parametrize("config_file", CONFIG_FILES, ids=lambda p: p.name)
def test_shipped_configs_keep_the_merge_policies(config_file):
    from alignment_tax.config_checks import check_merge_policies

    check_merge_policies(_config(config_file))


# --------------------------------------------------------------------------- README table


def readme_table() -> dict[str, dict[str, str]]:
    """The README's table 'Which tensors each method touches': row label -> column -> cell."""
    text = (REPO / "README.md").read_text()
    start = text.index("Which tensors each method touches")
    lines = text[start:].splitlines()
    table_start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    rows = []
    for line in lines[table_start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, body = rows[0], rows[2:]
    assert len(header) == 1 + len(README_COLUMNS), header
    assert "tied" in header[-1] and header[4] == "final norm" and header[5] == "lm_head"
    return {row[0]: dict(zip(README_COLUMNS, row[1:], strict=True)) for row in body}


def expected_ratio(cell: str, name: str, layer_ratios: list[float], alpha: float) -> float:
    """What a README cell means for one tensor (weight on theta0)."""
    _, layer = merging.tensor_kind(name)
    cell = re.sub(r"\s*\(the mean\)$", "", cell)
    if cell == "alpha":
        return alpha
    if cell == "theta0":
        return 1.0
    if cell == "theta":
        return 0.0
    if cell.startswith("its part's"):
        return layer_ratios[layer]
    if cell == "the input part's ratio":
        return layer_ratios[0]
    if cell == "the output part's ratio":
        return layer_ratios[-1]
    raise AssertionError(f"README cell {cell!r} has no meaning in this test")


def test_readme_table_has_a_row_per_method():
    table = readme_table()
    assert set(README_ROWS) <= set(table)
    assert {m for ms in README_ROWS.values() for m in ms} == set(variants.MERGE_METHODS) - {"plain"}


@pytest.mark.parametrize("config_file", CONFIG_FILES, ids=lambda p: p.name)
def test_readme_table_holds(config_file, pair):
    """Every tensor of every method merges as the README's table says (each shipped config's
    policies), on untied and tied architectures."""
    arch, dirs, (sd0, sd1) = pair
    tied = arch != "llama"
    config = _config(config_file)
    table = readme_table()
    ranges = merging.part_ranges(LAYERS, 3)
    cache = recipes.ModelCache()
    for label, methods in README_ROWS.items():
        for method in methods:
            alpha = -ALPHA if method == "extrapolation" else ALPHA  # beyond theta
            if method == "partwise":
                part_ratios = [0.0, 0.0, alpha]  # output part: every column moves
            elif method in ("ma", "extrapolation"):
                part_ratios = [alpha] * 3
            else:  # unequal part ratios, mean ALPHA
                part_ratios = [alpha - 0.1, alpha, alpha + 0.1]
            low = min(0.0, *part_ratios)  # below 0 for extrapolation only
            layer_ratios = merging.layer_ratios_from_parts(part_ratios, ranges, low=low)
            recipe = _recipe(dirs, method, layer_ratios, alpha, variants.policies(config, method))
            got = _materialized(recipe, cache)
            for name, tensor in got.items():
                cell = table[label][_column(name, tied)]
                ratio = expected_ratio(cell, name, layer_ratios, alpha)
                want = ratio * sd0[name].double() + (1 - ratio) * sd1[name].double()
                torch.testing.assert_close(
                    tensor.double(),
                    want,
                    rtol=0,
                    atol=1e-6,
                    msg=f"{config_file.name} {method} {name}: README says {cell!r}",
                )
    if tied:  # input-part averaging leaves the tied matrix at theta
        recipe = _recipe(
            dirs,
            "partwise",
            merging.layer_ratios_from_parts([ALPHA, 0.0, 0.0], ranges),
            ALPHA,
            variants.policies(config, "partwise"),
        )
        got = _materialized(recipe, cache)
        for name in got:
            if _column(name, tied) == "tied":
                assert torch.equal(got[name], sd1[name]), name


def test_hma_fit_merges_the_tied_matrix_as_the_recipe(tmp_path_factory):
    """The merge HMA fits is the one materialize() builds, tied matrix included."""
    from alignment_tax.hma import MergedParameters
    from transformers import AutoModelForCausalLM

    dirs, (sd0, sd1) = _pair(tmp_path_factory, "llama_tied")
    policies = variants.DEFAULT_POLICIES["hma"]
    ranges = merging.part_ranges(LAYERS, 3)
    part_ratios = torch.tensor([0.2, 0.3, 0.4])
    model = AutoModelForCausalLM.from_pretrained(dirs[0]).eval()
    theta = AutoModelForCausalLM.from_pretrained(dirs[1]).state_dict()
    merged = MergedParameters(model, theta, ranges, policies, alpha=0.3)
    # the shared matrix is lm_head's: at alpha (README), not theta0 as the embeddings
    name = "model.embed_tokens.weight"
    torch.testing.assert_close(
        model.get_input_embeddings().weight, 0.3 * sd0[name] + 0.7 * sd1[name], rtol=0, atol=1e-6
    )
    ids = torch.tensor([[1, 5, 7, 9, 2, 3]])
    with torch.no_grad():
        fitted = torch.func.functional_call(
            model, merged.params(part_ratios), args=(), kwargs={"input_ids": ids}
        ).logits
    recipe = _recipe(
        dirs, "hma", merging.layer_ratios_from_parts(part_ratios.tolist(), ranges), 0.3, policies
    )
    built = recipes.materialize(recipe)(input_ids=ids).logits
    torch.testing.assert_close(fitted, built, rtol=0, atol=1e-5)
