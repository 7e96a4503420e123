"""Every model variant a configuration evaluates, with a stable id and metadata.

Convention: alpha (and every part ratio) is the WEIGHT ON theta0, the pre-RLHF SFT model:
merged = alpha * theta0 + (1 - alpha) * theta; alpha = 0 is the RLHF model.

Ids (Snakemake wildcard ``{variant}``; recipe at ``results/<run>/recipes/<id>.json``)::

    sft                                   plain theta0 of the trained pairs (models/sft)
    <pair>/theta0                         plain theta0 of a public pair (config ``pairs``)
    <pair>/theta                          plain theta (the RLHF model)
    <pair>/ma/alpha<a>                    whole-model averaging
    <pair>/part_<input|middle|output>/alpha<a>   one of 3 parts averaged, the rest theta
    <pair>/pattern_<a_a_a-0.1>/alpha<base>       fixed part ratios (fig9; "|" -> "_")
    <pair>/hma/K<K>/alpha<a>              HMA, fitted part ratios with mean a (the candidate
                                          lr and epsilon of least held-out loss)
    <pair>/adamerging/alpha<a>            AdaMerging baseline, layer-wise, mean a

``<pair>`` is an RLHF algorithm (rsf, dpo, ppo) or the name of a config ``pairs`` entry.
Numbers are written as f"{x:g}". This module does not import torch, so .smk files can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alignment_tax.baseline_models import METHODS as BASELINE_METHODS
from alignment_tax.baseline_models import baseline_models
from alignment_tax.merging import pattern_ratios
from alignment_tax.replicates import result_path  # seed-aware paths; hub/ is shared

MERGE_METHODS = ("plain", "ma", "partwise", "pattern", "hma", "adamerging")
# Baselines (early stopping, penalties, LoRA, ...) are plain models: theta = the baseline's
# checkpoint at alpha 0, so the merge engine hands back exactly that model.
METHODS = MERGE_METHODS + BASELINE_METHODS
POLICY_KEYS = ("norms", "embeddings", "lm_head")
# Defaults follow the authors' code (NOTES.md): whole-model averaging merges every tensor;
# the HMA merge (also used here for fixed patterns and AdaMerging) merges the linear layers
# per part, takes lm_head at the global alpha and copies embeddings and norms from theta0.
DEFAULT_POLICIES = {
    "plain": {"norms": "part", "embeddings": "part", "lm_head": "part"},
    "ma": {"norms": "part", "embeddings": "part", "lm_head": "part"},
    "partwise": {"norms": "part", "embeddings": "part", "lm_head": "part"},
    "pattern": {"norms": "theta0", "embeddings": "theta0", "lm_head": "alpha"},
    "hma": {"norms": "theta0", "embeddings": "theta0", "lm_head": "alpha"},
    "adamerging": {"norms": "theta0", "embeddings": "theta0", "lm_head": "alpha"},
}


def fmt(x: float) -> str:
    return f"{float(x):g}"


@dataclass(frozen=True)
class Variant:
    id: str
    pair: str
    method: str
    alpha: float | None
    K: int | None  # number of parts; None = one ratio per layer (AdaMerging)
    part_ratios: tuple[float, ...] | None  # None when fitted (HMA, AdaMerging)
    algorithm: str | None = None
    part: str | None = None
    pattern: str | None = None
    hyper: dict[str, Any] = field(default_factory=dict)
    theta_dir: str | None = None  # set for baselines: the checkpoint that replaces theta

    @property
    def meta(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pair": self.pair,
            "algorithm": self.algorithm,
            "method": self.method,
            "alpha": self.alpha,
            "K": self.K,
            "part": self.part,
            "pattern": self.pattern,
            "part_ratios": list(self.part_ratios) if self.part_ratios is not None else None,
            "hyper": dict(self.hyper),
        }


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
    if "/" in variant_id:
        return variant_id.split("/", 1)[0]
    return pairs(config)[0][0]


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
    out = dict(DEFAULT_POLICIES.get(method, DEFAULT_POLICIES["plain"]))
    # a plain model (or baseline) is theta0 or theta, whatever the policies say
    if method not in MERGE_METHODS or method == "plain":
        return out
    for key in POLICY_KEYS:
        value = merging.get(key)
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, dict) and method in value:
            out[key] = value[method]
    return out


# --------------------------------------------------------------------------- variants


def all_variants(config: dict) -> list[Variant]:
    merging = config.get("merging", {})
    out: list[Variant] = []
    trained = [(n, a) for n, a in pairs(config) if a is not None]
    if trained:
        out.append(Variant("sft", trained[0][0], "plain", 1.0, 1, (1.0,), algorithm=None,
                           hyper={"model": "theta0"}))
    for pair, algo in pairs(config):
        common = {"algorithm": algo}
        if algo is None:
            out.append(Variant(f"{pair}/theta0", pair, "plain", 1.0, 1, (1.0,), **common,
                               hyper={"model": "theta0"}))
        out.append(Variant(f"{pair}/theta", pair, "plain", 0.0, 1, (0.0,), **common,
                           hyper={"model": "theta"}))
        for a in merging.get("ma", {}).get("alphas", []):
            out.append(Variant(f"{pair}/ma/alpha{fmt(a)}", pair, "ma", a, 1, (a,), **common))
        part_cfg = merging.get("partwise", {})
        parts = part_cfg.get("parts", []) if _selected(pair, part_cfg.get("pairs")) else []
        for part in parts:
            index = ["input", "middle", "output"].index(part)
            for a in part_cfg.get("alphas", []):
                ratios = tuple(a if i == index else 0.0 for i in range(3))
                out.append(Variant(f"{pair}/part_{part}/alpha{fmt(a)}", pair, "partwise", a, 3,
                                   ratios, part=part, **common))
        pat_cfg = merging.get("patterns", {})
        pattern_pairs = pat_cfg.get("pairs")
        for pattern in pat_cfg.get("patterns", []) if _selected(pair, pattern_pairs) else []:
            for base in pat_cfg.get("bases", []):
                ratios = tuple(pattern_ratios(pattern, base))
                slug = pattern.replace("|", "_")
                out.append(Variant(f"{pair}/pattern_{slug}/alpha{fmt(base)}", pair, "pattern",
                                   base, len(ratios), ratios, pattern=pattern, **common))
        out += hma_variants(config, pair, algo)
        out += adamerging_variants(config, pair, algo)
    for model in baseline_models(config):
        out.append(Variant(model["id"], model["pair"], model["method"], 0.0, 1, (0.0,),
                           algorithm=model["algorithm"], hyper=dict(model["hyper"]),
                           theta_dir=model["path"]))
    ids = [v.id for v in out]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate variant ids; check merging alphas for repeats")
    return out


def _selected(pair: str, names: list[str] | None) -> bool:
    """Whether a per-pair option list (null = every pair) includes ``pair``."""
    return names is None or pair in names


def hma_lrs(config: dict, pair: str) -> list[float]:
    """Candidate learning rates of a pair's HMA fits: merging.hma.lrs is one list for every
    pair or a mapping pair -> list (the paper's table 4 differs per RLHF algorithm)."""
    lrs = config.get("merging", {}).get("hma", {}).get("lrs", [])
    if isinstance(lrs, dict):
        if pair not in lrs:
            raise ValueError(f"config key 'merging.hma.lrs' has no entry for pair {pair!r} "
                             f"(entries: {sorted(lrs)})")
        lrs = lrs[pair]
    return [float(lr) for lr in lrs]


def hma_candidates(config: dict, pair: str) -> list[tuple[float, float]]:
    """(lr, epsilon) of every candidate fit of one HMA variant of ``pair``; the variant is
    the candidate with the least held-out loss on D_theta (rule select_hma)."""
    epsilons = config.get("merging", {}).get("hma", {}).get("epsilons", [0.0])
    return [(lr, float(eps)) for lr in hma_lrs(config, pair) for eps in epsilons]


def hma_candidate_label(lr: float, epsilon: float) -> str:
    """Folder of one candidate fit: merging/<pair>/hma/K<K>/alpha<a>/lr<lr>_eps<eps>/."""
    return f"lr{fmt(lr)}_eps{fmt(epsilon)}"


def hma_variants(config: dict, pair: str, algo: str | None) -> list[Variant]:
    """HMA for each K x alpha (pairs not in merging.hma.sweep_pairs: K = Ks[0] only, no K
    ablation). Each is fitted once per candidate (lr, epsilon) and the candidate of least
    held-out loss is the variant; the candidates themselves are not variants."""
    hma = config.get("merging", {}).get("hma", {})
    ks, alphas = hma.get("Ks", []), hma.get("alphas", [])
    if not ks or not alphas:
        return []
    if not _selected(pair, hma.get("sweep_pairs")):
        ks = ks[:1]  # no K ablation for this pair
    candidates = hma_candidates(config, pair)
    hyper = {"lr_candidates": sorted({lr for lr, _ in candidates}),
             "epsilon_candidates": sorted({eps for _, eps in candidates}),
             "l1_weight": hma.get("l1_weight", 0.0), "selected_by": "heldout_loss"}
    return [Variant(f"{pair}/hma/K{k}/alpha{fmt(a)}", pair, "hma", a, k, None,
                    algorithm=algo, hyper=dict(hyper))
            for k in ks for a in alphas]


def adamerging_variants(config: dict, pair: str, algo: str | None) -> list[Variant]:
    """AdaMerging per mean alpha for trained pairs of merging.adamerging.algorithms; its
    labelled reading data are new toy-world items, or on the paper's path SQuAD v2's train
    split (datasets.squadv2_train; rule make_adamerging_data)."""
    ada = config.get("merging", {}).get("adamerging", {})
    if algo is None or algo not in ada.get("algorithms", ["rsf"]):
        return []
    return [
        Variant(f"{pair}/adamerging/alpha{fmt(m)}", pair, "adamerging", m, None, None,
                algorithm=algo, hyper={"lr": ada.get("lr"), "steps": ada.get("steps")})
        for m in ada.get("mean_alphas", [])
    ]


def variant_ids(config: dict, methods=None) -> list[str]:
    wanted = set(methods or METHODS)
    unknown = wanted - set(METHODS)
    if unknown:
        raise ValueError(f"unknown merge methods {sorted(unknown)}; known: {METHODS}")
    return [v.id for v in all_variants(config) if v.method in wanted]


def get_variant(config: dict, variant_id: str) -> Variant:
    for variant in all_variants(config):
        if variant.id == variant_id:
            return variant
    raise ValueError(f"variant {variant_id!r} is not produced by this configuration")


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
