"""Merge methods are small registered classes (alignment_tax.merge_methods), the variants
of a configuration come from the registry through an index, and model extrapolation
(alpha < 0, beyond theta) is one of them. Convention: alpha is the weight on theta0,
merged = alpha * theta0 + (1 - alpha) * theta, so alpha = -0.2 is 1.2 * theta - 0.2 * theta0.
All models are tiny, randomly initialised and built locally.
"""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
from alignment_tax import merge_methods, recipes, variants
from alignment_tax.merge_methods.base import HMA_MERGE, WHOLE_MODEL, MergeMethod, Variant
from conftest import REPO, load_config
from test_merge_policies import LAYERS, _pair

# --------------------------------------------------------------------------- registry


def test_registry_lists_every_method_in_the_order_a_pair_lists_its_variants():
    assert merge_methods.MERGE_METHODS == (
        "plain",
        "ma",
        "extrapolation",
        "partwise",
        "pattern",
        "hma",
        "adamerging",
    )
    for name, method in merge_methods.REGISTRY.items():
        assert isinstance(method, MergeMethod) and method.name == name
        assert method.label and set(method.policies) == set(variants.POLICY_KEYS)
    with pytest.raises(ValueError, match="unknown merge method 'slerp'.*extrapolation"):
        merge_methods.get_method("slerp")


def test_all_variants_iterates_the_registry(monkeypatch):
    """A method registered under a new name generates variants with no other change."""

    class Halfway(MergeMethod):
        name, section, label, order = "halfway", "halfway", "halfway", 99

        def variants(self, config, pair, algorithm):
            return [
                Variant(f"{pair}/halfway", pair, self.name, 0.5, 1, (0.5,), algorithm=algorithm)
            ]

    config = load_config("config")
    before = variants.variant_ids(config)
    monkeypatch.setitem(merge_methods.REGISTRY, "halfway", Halfway())
    after = [v.id for v in variants.VariantIndex(config).variants]
    assert [i for i in after if i not in before] == ["rsf/halfway", "dpo/halfway", "ppo/halfway"]


# --------------------------------------------------------------------------- each method


def _by_method(config) -> dict[str, list[Variant]]:
    out: dict[str, list[Variant]] = {}
    for variant in variants.variant_index(config).variants:
        out.setdefault(variant.method, []).append(variant)
    return out


def test_each_method_makes_its_variants_from_its_config_section():
    config = load_config("config")
    merging = config["merging"]
    by_method = _by_method(config)
    algos = config["rlhf"]["algorithms"]
    assert [v.id for v in by_method["plain"]] == ["sft"] + [f"{a}/theta" for a in algos]
    assert [v.alpha for v in by_method["ma"]] == merging["ma"]["alphas"] * len(algos)
    assert all(v.part_ratios == (v.alpha,) for v in by_method["ma"])
    assert [v.id for v in by_method["extrapolation"]] == [
        f"{a}/extrapolation/alpha{x:g}" for a in algos for x in merging["extrapolation"]["alphas"]
    ]
    assert all(
        v.alpha < 0 and v.part_ratios == (v.alpha,) and v.K == 1 for v in by_method["extrapolation"]
    )
    part = next(v for v in by_method["partwise"] if v.part == "middle")
    assert part.part_ratios == (0.0, part.alpha, 0.0)
    pattern = next(v for v in by_method["pattern"] if v.pattern == "a|a-0.1|a-0.1")
    assert pattern.id == "rsf/pattern_a_a-0.1_a-0.1/alpha0.3"
    assert pattern.part_ratios == pytest.approx((0.3, 0.2, 0.2))
    assert {v.pair for v in by_method["pattern"]} == set(merging["patterns"]["pairs"])
    hma = by_method["hma"]
    assert all(v.part_ratios is None for v in hma)
    assert {(v.pair, v.K) for v in hma} == {("rsf", 3), ("rsf", 6), ("dpo", 3), ("ppo", 3)}
    assert {v.pair for v in by_method["adamerging"]} == set(merging["adamerging"]["algorithms"])


def test_each_method_has_its_policies_and_only_configurable_ones_follow_the_config():
    config = load_config("config")
    assert variants.policies(config, "ma") == WHOLE_MODEL
    assert variants.policies(config, "extrapolation") == WHOLE_MODEL
    for name in ("pattern", "hma", "adamerging"):
        assert variants.policies(config, name) == HMA_MERGE
    config["merging"]["norms"] = "theta0"  # one value for every method
    assert variants.policies(config, "ma")["norms"] == "theta0"
    # extrapolation moves every tensor by definition, as plain models stay themselves
    assert variants.policies(config, "extrapolation") == WHOLE_MODEL
    assert variants.policies(config, "plain")["norms"] == "part"


def test_rules_build_fitted_ids_with_the_method_that_makes_the_variants():
    config = load_config("config")
    ids = set(variants.variant_ids(config))
    hma, ada = merge_methods.get_method("hma"), merge_methods.get_method("adamerging")
    # the wildcards of recipes/{pair}/hma/K{K}/alpha{alpha}.json, as strings
    assert hma.variant_id("rsf", "6", "0.4") in ids
    assert ada.variant_id("rsf", "0.2") in ids
    assert hma.variant_id("rsf", "3", "0.40") not in ids  # not a variant's path: no variant
    assert variants.variant_pair(config, "sft") == "rsf"
    assert variants.variant_pair(config, "dpo/extrapolation/alpha-0.2") == "dpo"


# --------------------------------------------------------------------------- the index


def test_variant_lookups_use_one_index_per_config(monkeypatch):
    config = copy.deepcopy(load_config("config"))
    config["merging"]["ma"]["alphas"] = [0.25]  # a config no other test has indexed
    built = []
    real = variants.all_variants
    monkeypatch.setattr(variants, "all_variants", lambda c: built.append(1) or real(c))
    for variant_id in variants.variant_ids(config):
        variants.recipe_spec(config, variant_id)
    assert len(built) == 1
    config["merging"]["ma"]["alphas"] = [0.35]  # changed in place: a new index, never stale
    assert "rsf/ma/alpha0.35" in variants.variant_ids(config)
    assert len(built) == 2
    with pytest.raises(ValueError, match="'rsf/ma/alpha0.25' is not produced"):
        variants.get_variant(config, "rsf/ma/alpha0.25")


# --------------------------------------------------------------------------- extrapolation


@pytest.fixture(scope="module")
def pair_dirs(tmp_path_factory):
    """A tiny LLaMA pair whose every tensor differs (test_merge_policies' pair)."""
    return _pair(tmp_path_factory, "llama")


def _spec(config, variant_id, dirs):
    return {**variants.recipe_spec(config, variant_id), "theta0": dirs[0], "theta": dirs[1]}


def test_extrapolation_recipe_is_beyond_theta_on_every_tensor(pair_dirs):
    dirs, (sd0, sd1) = pair_dirs
    config = load_config("config")
    recipe = recipes.recipe_from_spec(_spec(config, "rsf/extrapolation/alpha-0.2", dirs), LAYERS)
    assert recipe["layer_ratios"] == [-0.2] * LAYERS and recipe["global_ratio"] == -0.2
    got = recipes.materialize(recipe).state_dict()
    assert set(got) == set(sd1)
    for name, tensor in got.items():
        torch.testing.assert_close(
            tensor, 1.2 * sd1[name] - 0.2 * sd0[name], rtol=0, atol=1e-6, msg=name
        )


def test_negative_alpha_is_refused_for_every_other_method(pair_dirs):
    dirs, _ = pair_dirs
    config = load_config("config")
    spec = _spec(config, "rsf/ma/alpha0.2", dirs)
    spec["meta"] = {**spec["meta"], "alpha": -0.2}
    spec["part_ratios"] = [-0.2]
    with pytest.raises(ValueError, match=r"-0\.2 outside \[0, 1\].*only method 'extrapolation'"):
        recipes.recipe_from_spec(spec, LAYERS)
    with pytest.raises(ValueError, match=r"key 'layer_ratios\[0\]'.*'extrapolation'"):
        recipes.make_recipe(
            "rsf/ma/alpha-0.2",
            theta0=dirs[0],
            theta=dirs[1],
            layer_ratios=[-0.2] * LAYERS,
            global_ratio=-0.2,
            policies=WHOLE_MODEL,
            meta={"method": "ma", "alpha": -0.2},
        )
    # and extrapolation itself takes no alpha in [0, 1] (that is MA)
    with pytest.raises(ValueError, match="extrapolation needs alpha < 0"):
        recipes.make_recipe(
            "rsf/extrapolation/alpha0.2",
            theta0=dirs[0],
            theta=dirs[1],
            layer_ratios=[0.2] * LAYERS,
            global_ratio=0.2,
            policies=WHOLE_MODEL,
            meta={"method": "extrapolation", "alpha": 0.2},
        )


def test_config_refuses_extrapolation_alphas_that_are_not_negative_naming_the_key():
    from snakemake.utils import validate

    schema = str(REPO / "config" / "schema" / "config.schema.yaml")
    config = load_config("config")
    config["merging"]["extrapolation"]["alphas"] = [0.2]
    with pytest.raises(Exception, match="extrapolation"):
        validate(copy.deepcopy(config), schema)
    with pytest.raises(ValueError, match="config key 'merging.extrapolation.alphas'"):
        variants.variant_ids(config)
    config = load_config("config")
    config["merging"]["ma"]["alphas"] = [-0.2]
    with pytest.raises(Exception, match="ma"):
        validate(config, schema)


def test_configs_that_do_not_set_extrapolation_have_none():
    from snakemake.utils import validate

    config = load_config("paper")
    assert "extrapolation" not in config["merging"]
    validate(config, str(REPO / "config" / "schema" / "config.schema.yaml"), set_default=True)
    assert config["merging"]["extrapolation"] == {"alphas": []}
    assert not [i for i in variants.variant_ids(config) if "/extrapolation/" in i]


def test_fig14_continues_each_ma_curve_beyond_theta_in_its_colour():
    from alignment_tax.artifact_catalogue import artifacts, series_points

    config = load_config("config")
    ((_, series),) = artifacts(config)["fig14"].rows
    by_label = {s.label: s for s in series}
    ma, extra = by_label["DPO (MA)"], by_label["DPO (extrapolation)"]
    assert extra.color == ma.color and extra.linestyle == "--"
    rows = [
        {"variant": "sft", "method": "plain", "alpha": 1.0},
        {"variant": "dpo/theta", "method": "plain", "alpha": 0.0},
        {"variant": "dpo/ma/alpha0.5", "method": "ma", "alpha": 0.5},
        {"variant": "dpo/extrapolation/alpha-0.2", "method": "extrapolation", "alpha": -0.2},
    ]
    table = pd.DataFrame(rows).assign(reward=[0.0, 1.0, 0.5, 1.2], reading=[1.0, 0.5, 0.8, 0.4])
    table["pair"] = table["variant"].str.split("/").str[0]
    points = series_points(table, extra, "reward", "reading")
    assert points["variant"].tolist() == ["dpo/extrapolation/alpha-0.2", "dpo/theta"]
    assert (
        "dpo/extrapolation/alpha-0.2"
        not in series_points(table, ma, "reward", "reading")["variant"].tolist()
    )
    without = table[table["method"] != "extrapolation"]
    assert series_points(without, extra, "reward", "reading").empty  # no lone theta marker
