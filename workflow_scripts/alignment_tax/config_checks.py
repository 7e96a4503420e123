"""Checks of a configuration that a JSON schema cannot express.

The Snakefile validates the config against config/schema/config.schema.yaml first (types,
ranges, enums, defaults); ``check_config`` then checks relations between keys. Every error
names the key at fault and is raised before any job runs.
"""

from __future__ import annotations

import re
from typing import Any


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key."""


def _fail(key: str, message: str) -> None:
    raise ConfigError(f"config key '{key}': {message}")


def pattern_offsets(pattern: str) -> list[float]:
    """Offsets of a per-part ratio pattern such as 'a|a|a-0.1' -> [0.0, 0.0, -0.1]."""
    offsets = []
    for term in pattern.split("|"):
        match = re.fullmatch(r"a(?:-(0\.\d+))?", term.strip())
        if match is None:
            raise ConfigError(f"pattern '{pattern}': term '{term}' is not 'a' or 'a-0.x'")
        offsets.append(-float(match.group(1)) if match.group(1) else 0.0)
    return offsets


def layer_count(config: dict[str, Any]) -> int | None:
    """Number of decoder layers of the configured base model, when the config knows it."""
    base = config.get("base_model") or {}
    if base.get("source") == "toy":
        return config.get("toy_world", {}).get("architecture", {}).get("num_hidden_layers")
    if base.get("num_hidden_layers"):
        return base["num_hidden_layers"]
    counts = {p.get("num_hidden_layers") for p in config.get("pairs", [])} - {None}
    return min(counts) if counts else None


def check_config(config: dict[str, Any]) -> None:
    stages = config.get("stages", {})
    base = config.get("base_model")
    pairs = config.get("pairs", [])

    if stages.get("training", True):
        if base is None:
            _fail("base_model", "missing, but stages.training is true")
        if base["source"] == "hub" and not base.get("hub_id"):
            _fail("base_model.hub_id", "required when base_model.source is 'hub'")
        if (base["source"] == "toy") != bool(stages.get("toy_world")):
            _fail("stages.toy_world", "must be true exactly when base_model.source is 'toy'")
        algorithms = config.get("rlhf", {}).get("algorithms", [])
        if not algorithms:
            _fail("rlhf.algorithms", "lists no RLHF algorithm, but stages.training is true")
    elif not pairs:
        _fail("pairs", "is empty and stages.training is false: nothing to merge or evaluate")

    names = [p["name"] for p in pairs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        _fail("pairs", f"duplicate pair names {duplicates}")
    clash = set(names) & set(config.get("rlhf", {}).get("algorithms", []))
    if stages.get("training", True) and clash:
        _fail("pairs", f"names {sorted(clash)} clash with rlhf.algorithms")

    layers = layer_count(config)
    merging = config.get("merging", {})
    if layers is not None:
        for K in merging.get("hma", {}).get("Ks", []):
            if K > layers:
                _fail("merging.hma.Ks", f"K = {K} is larger than the layer count ({layers})")
        if layers < 3:
            _fail("toy_world.architecture.num_hidden_layers", "needs at least 3 layers (parts)")
    boundaries = merging.get("part_boundaries")
    if boundaries is not None:
        if sorted(boundaries) != list(boundaries) or len(set(boundaries)) != len(boundaries):
            _fail("merging.part_boundaries", f"must be strictly increasing, got {boundaries}")
        if len(boundaries) != 2:
            _fail(
                "merging.part_boundaries", "must give 2 boundaries (3 parts: input|middle|output)"
            )
        if layers is not None and boundaries[-1] >= layers:
            _fail("merging.part_boundaries", f"boundary {boundaries[-1]} >= layer count {layers}")

    patterns = merging.get("patterns", {})
    for pattern in patterns.get("patterns", []):
        offsets = pattern_offsets(pattern)
        if len(offsets) != 3:
            _fail("merging.patterns.patterns", f"'{pattern}' must have 3 parts")
        for a in patterns.get("bases", []):
            if not all(0.0 <= a + o <= 1.0 for o in offsets):
                _fail("merging.patterns.bases", f"base {a} with '{pattern}' leaves [0, 1]")

    pair_names = set(names)
    if stages.get("training", True):
        pair_names |= set(config.get("rlhf", {}).get("algorithms", []))
    for key, listed in (
        ("merging.patterns.pairs", patterns.get("pairs")),
        ("merging.hma.sweep_pairs", merging.get("hma", {}).get("sweep_pairs")),
    ):
        unknown = sorted(set(listed or []) - pair_names)
        if unknown:
            _fail(key, f"names unknown pairs {unknown}; pairs are {sorted(pair_names)}")

    hma = merging.get("hma", {})
    if hma.get("n_train_samples", 0) > hma.get("n_top_samples", float("inf")):
        _fail("merging.hma.n_train_samples", "is larger than merging.hma.n_top_samples")

    benchmarks = config.get("evaluation", {}).get("benchmarks", {})
    if not any(benchmarks.values()):
        _fail("evaluation.benchmarks", "names no benchmark")
    toy_names = [b for group in benchmarks.values() for b in group if b.startswith("toy_")]
    if toy_names and not stages.get("toy_world"):
        _fail("evaluation.benchmarks", f"toy tasks {toy_names} need stages.toy_world: true")

    if stages.get("baselines"):
        iterations = config.get("rlhf", {}).get("rsf", {}).get("iterations", 0)
        for it in config.get("baselines", {}).get("early_stopping_iterations", []):
            if it > iterations:
                _fail(
                    "baselines.early_stopping_iterations",
                    f"iteration {it} > rlhf.rsf.iterations ({iterations})",
                )
    if stages.get("gpt4_judge") and not config.get("evaluation", {}).get("gpt4_judge"):
        _fail("evaluation.gpt4_judge", "missing, but stages.gpt4_judge is true")
