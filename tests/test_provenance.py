"""alignment_tax.provenance: canonical configs, the rule graph's key, the resolved config."""

from __future__ import annotations

import yaml
from alignment_tax.provenance import (
    canonical,
    canonicalise_in_place,
    digest,
    graph_shape,
    resolved_config_text,
    write_resolved_config,
)

CONFIG = {
    "seed": 1,
    "stages": {"training": True, "baselines": False},
    "sft": {"lr": 1e-3, "epochs": 2},
    "rlhf": {"algorithms": ["rsf", "dpo"]},
    "merging": {"ma": {"alphas": [0.2, 0.5]}, "hma": {"Ks": [3]}},
    "replicates": {"seeds": [1]},
}


def reordered(value):
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    return value


def test_canonical_text_ignores_key_order_not_list_order():
    assert repr(canonical(reordered(CONFIG))) == repr(canonical(CONFIG))
    assert list(canonical(CONFIG)) == sorted(CONFIG)
    swapped = canonical(CONFIG)
    swapped["rlhf"]["algorithms"] = ["dpo", "rsf"]
    assert repr(swapped) != repr(canonical(CONFIG))


def test_canonicalise_in_place_keeps_the_object():
    config = reordered(CONFIG)
    same = canonicalise_in_place(config)
    assert same is config and repr(config) == repr(canonical(CONFIG))


def test_digest_ignores_key_order():
    assert digest(reordered(CONFIG)) == digest(CONFIG)
    assert digest({**CONFIG, "seed": 2}) != digest(CONFIG)


def with_value(path, value):
    config = canonical(CONFIG)
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node[key]
    node[last] = value
    return config


def test_graph_shape_ignores_numbers_but_not_structure():
    shape = graph_shape(CONFIG)
    for path, value in [("seed", 7), ("sft.lr", 5e-4), ("merging.ma.alphas", [0.3, 0.6, 0.9])]:
        assert graph_shape(with_value(path, value)) == shape, path
    for path, value in [
        ("stages.baselines", True),  # a stage switched on
        ("rlhf.algorithms", ["rsf"]),  # an algorithm dropped
        ("merging.ma.alphas", []),  # a grid emptied
        ("replicates.seeds", [1, 2]),  # a second seed adds a copy of the rules
    ]:
        assert graph_shape(with_value(path, value)) != shape, path


def test_resolved_config_round_trips(tmp_path):
    path = tmp_path / "config.resolved.yaml"
    write_resolved_config(str(path), reordered(CONFIG))
    assert yaml.safe_load(path.read_text()) == CONFIG
    assert path.read_text() == resolved_config_text(CONFIG)
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary file
