"""Every model variant a configuration evaluates, with a stable id and metadata.

Convention: alpha (and every part ratio) is the WEIGHT ON theta0, the pre-RLHF SFT model:
merged = alpha * theta0 + (1 - alpha) * theta; alpha = 0 is the RLHF model.

Ids (Snakemake wildcard ``{variant}``; recipe at ``results/<run>/recipes/<id>.json``)::

    sft                                   plain theta0 of the trained pairs (models/sft)
    <pair>/theta0                         plain theta0 of a public pair (config ``pairs``)
    <pair>/theta                          plain theta (the RLHF model)
    <pair>/ma/alpha<a>                    whole-model averaging
    <pair>/extrapolation/alpha<a>         model extrapolation beyond theta (a < 0)
    <pair>/part_<input|middle|output>/alpha<a>   one of 3 parts averaged, the rest theta
    <pair>/pattern_<a_a_a-0.1>/alpha<base>       fixed part ratios (fig9; "|" -> "_")
    <pair>/hma/K<K>/alpha<a>              HMA, fitted part ratios with mean a (the candidate
                                          lr and epsilon of least held-out loss)
    <pair>/adamerging/alpha<a>            AdaMerging baseline, layer-wise, mean a

``<pair>`` is an RLHF algorithm (rsf, dpo, ppo) or the name of a config ``pairs`` entry.
Numbers are written as f"{x:g}". This module does not import torch, so .smk files can use it.
"""

from __future__ import annotations

import json

from alignment_tax.baseline_models import METHODS as BASELINE_METHODS
from alignment_tax.baseline_models import baseline_models
from alignment_tax.merge_methods import (  # noqa: F401 (Variant, fmt: used from here)
    MERGE_METHODS,
    REGISTRY,
    Variant,
    fmt,
    get_method,
)
from alignment_tax.merge_methods.hma import (  # noqa: F401 (rules import them from here)
    hma_candidate_label,
    hma_candidates,
    hma_lrs,
)
from alignment_tax.merge_methods.plain import Plain
from alignment_tax.replicates import result_path  # seed-aware paths; hub/ is shared

# Baselines (early stopping, penalties, LoRA, ...) are plain models: theta = the baseline's
# checkpoint at alpha 0, so the merge engine hands back exactly that model.
METHODS = MERGE_METHODS + BASELINE_METHODS
POLICY_KEYS = ("norms", "embeddings", "lm_head")
# Each method's default tensor policies (alignment_tax.merge_methods; they follow the
# authors' code: whole-model averaging merges every tensor; the HMA merge, also used for
# fixed patterns and AdaMerging, merges the linear layers per part, takes lm_head at the
# global alpha and copies embeddings and norms from theta0).
DEFAULT_POLICIES = {name: dict(method.policies) for name, method in REGISTRY.items()}


# --------------------------------------------------------------------------- pairs


def pairs(config: dict) -> list[tuple[str, str | None]]:
    """(pair name, algorithm or None): trained RLHF algorithms, then public pairs."""
    out: list[tuple[str, str | None]] = []
    if config.get("stages", {}).get("training", False):
        out += [(algo, algo) for algo in config.get("rlhf", {}).get("algorithms", [])]
    out += [(p["name"], None) for p in config.get("pairs", [])]
    names = [name for name, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"pair names must be unique (rlhf.algorithms + pairs): {names}")
    return out


def variant_pair(config: dict, variant_id: str) -> str:
    """The pair whose checkpoints a variant merges ("sft" is theta0 of the first pair)."""
    return get_variant(config, variant_id).pair


def pair_dirs(config: dict, pair: str) -> tuple[str, str]:
    """(theta0 dir, theta dir) of a pair, per docs/CONTRACTS.md."""
    for name, algo in pairs(config):
        if name == pair:
            if algo is not None:
                return result_path(config, "models/sft"), result_path(config,
                                                                      f"models/rlhf/{algo}")
            return (result_path(config, f"hub/{pair}/theta0"),
                    result_path(config, f"hub/{pair}/theta"))
    raise ValueError(f"unknown pair {pair!r}; known: {[n for n, _ in pairs(config)]}")


def policies(config: dict, method: str) -> dict[str, str]:
    """Tensor policies of a method: config merging.<norms|embeddings|lm_head> is either one
    policy for every method or a mapping method -> policy; missing entries use defaults."""
    merging = config.get("merging", {})
    known = REGISTRY.get(method)
    # a plain model (or baseline) is theta0 or theta, whatever the policies say; a method
    # that is not configurable (extrapolation) moves every tensor by definition
    if known is None or not known.configurable:
        return dict((known or REGISTRY["plain"]).policies)
    out = dict(known.policies)
    for key in POLICY_KEYS:
        value = merging.get(key)
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, dict) and method in value:
            out[key] = value[method]
    return out


# --------------------------------------------------------------------------- variants


def all_variants(config: dict) -> list[Variant]:
    """Every variant: ``sft``, then per pair each merge method's (merge_methods.REGISTRY,
    in its order), then the baselines."""
    out: list[Variant] = []
    trained = [(n, a) for n, a in pairs(config) if a is not None]
    if trained:
        out.append(Plain.sft_variant(trained[0][0]))
    for pair, algo in pairs(config):
        for method in REGISTRY.values():
            out += method.variants(config, pair, algo)
    for model in baseline_models(config):
        out.append(Variant(model["id"], model["pair"], model["method"], 0.0, 1, (0.0,),
                           algorithm=model["algorithm"], hyper=dict(model["hyper"]),
                           theta_dir=model["path"]))
    ids = [v.id for v in out]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate variant ids; check merging alphas for repeats")
    return out


class VariantIndex:
    """Every variant of one configuration, built once, looked up by id in O(1)."""

    def __init__(self, config: dict):
        self.variants: tuple[Variant, ...] = tuple(all_variants(config))
        self.by_id: dict[str, Variant] = {v.id: v for v in self.variants}

    def __getitem__(self, variant_id: str) -> Variant:
        try:
            return self.by_id[variant_id]
        except KeyError:
            raise ValueError(
                f"variant {variant_id!r} is not produced by this configuration"
            ) from None


_INDEXES: dict[str, VariantIndex] = {}
_MAX_INDEXES = 16  # a workflow parse sees one config; tests a handful


def variant_index(config: dict) -> VariantIndex:
    """The configuration's index, cached by the config's canonical JSON (so a config that
    is changed in place gets a new index, never a stale one)."""
    key = json.dumps(config, sort_keys=True, default=str)
    index = _INDEXES.get(key)
    if index is None:
        if len(_INDEXES) >= _MAX_INDEXES:
            _INDEXES.clear()
        index = _INDEXES[key] = VariantIndex(config)
    return index


def variant_ids(config: dict, methods=None) -> list[str]:
    wanted = set(methods or METHODS)
    unknown = wanted - set(METHODS)
    if unknown:
        raise ValueError(f"unknown merge methods {sorted(unknown)}; known: {METHODS}")
    return [v.id for v in variant_index(config).variants if v.method in wanted]


def get_variant(config: dict, variant_id: str) -> Variant:
    return variant_index(config)[variant_id]


def variant_model_dirs(config: dict, variant_id: str) -> list[str]:
    """[theta0 dir, theta dir] a variant needs (rule inputs)."""
    variant = get_variant(config, variant_id)
    theta0, theta = pair_dirs(config, variant.pair)
    if variant.theta_dir is not None:
        return [theta0, variant.theta_dir]
    return [theta0, theta0] if variant.id == "sft" else [theta0, theta]


def variant_input_dirs(config: dict, variant_id: str) -> list[str]:
    """The Snakemake outputs a variant's evaluation waits for: its model dirs, except that
    an RSF iteration checkpoint lives inside the RSF job's directory output."""
    dirs = variant_model_dirs(config, variant_id)
    rsf_dir = result_path(config, "models/rlhf/rsf")
    return [rsf_dir if d.startswith(f"{rsf_dir}/iter_") else d for d in dirs]


def recipe_spec(config: dict, variant_id: str) -> dict:
    """Everything a recipe of this variant depends on, except the layer count (read from
    the checkpoint) and fitted ratios: passed as a rule param so a config change that
    alters the recipe reruns exactly that recipe."""
    variant = get_variant(config, variant_id)
    theta0, theta = variant_model_dirs(config, variant_id)
    return {
        "id": variant.id,
        "meta": variant.meta,
        "theta0": theta0,
        "theta": theta,
        "K": variant.K,
        "part_ratios": list(variant.part_ratios) if variant.part_ratios is not None else None,
        "part_boundaries": config.get("merging", {}).get("part_boundaries"),
        "policies": policies(config, variant.method),
    }
