"""Heterogeneous Model Averaging (HMA, paper section 6): K part ratios with mean alpha,
fitted on D_theta (rules fit_hma, select_hma)."""

from __future__ import annotations

from alignment_tax.merge_methods.base import (
    HMA_MERGE,
    MergeMethod,
    Variant,
    fmt,
    id_number,
    selected,
)


def mean_mismatch(alpha: float, part_ratios: list[float] | None) -> str | None:
    """Fitted ratios must average to alpha (HMA, AdaMerging)."""
    if part_ratios is not None and abs(sum(part_ratios) / len(part_ratios) - alpha) > 1e-6:
        return f"the mean of meta.part_ratios ({part_ratios})"
    return None


def hma_lrs(config: dict, pair: str) -> list[float]:
    """Candidate learning rates of a pair's HMA fits: merging.hma.lrs is one list for every
    pair or a mapping pair -> list (the paper's table 4 differs per RLHF algorithm)."""
    lrs = config.get("merging", {}).get("hma", {}).get("lrs", [])
    if isinstance(lrs, dict):
        if pair not in lrs:
            raise ValueError(
                f"config key 'merging.hma.lrs' has no entry for pair {pair!r} "
                f"(entries: {sorted(lrs)})"
            )
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


class HeterogeneousAveraging(MergeMethod):
    """``<pair>/hma/K<K>/alpha<a>`` for each K x alpha (pairs not in merging.hma.sweep_pairs:
    K = Ks[0] only, no K ablation). Each is fitted once per candidate (lr, epsilon) and the
    candidate of least held-out loss is the variant; the candidates are not variants."""

    name = "hma"
    section = "hma"
    label = "HMA"
    policies = HMA_MERGE
    fitted = True
    order = 40

    def variants(self, config, pair, algorithm):
        hma = self.settings(config)
        ks, alphas = hma.get("Ks", []), hma.get("alphas", [])
        if not ks or not alphas:
            return []
        if not selected(pair, hma.get("sweep_pairs")):
            ks = ks[:1]  # no K ablation for this pair
        candidates = hma_candidates(config, pair)
        hyper = {
            "lr_candidates": sorted({lr for lr, _ in candidates}),
            "epsilon_candidates": sorted({eps for _, eps in candidates}),
            "l1_weight": hma.get("l1_weight", 0.0),
            "selected_by": "heldout_loss",
        }
        return [
            Variant(
                self.variant_id(pair, k, a),
                pair,
                self.name,
                a,
                k,
                None,
                algorithm=algorithm,
                hyper=dict(hyper),
            )
            for k in ks
            for a in alphas
        ]

    @staticmethod
    def variant_id(pair: str, k, alpha) -> str:
        """The id, also of the rules' outputs recipes/<pair>/hma/K<K>/alpha<a>.json (their
        wildcards K and alpha, as strings, give the same id)."""
        return f"{pair}/hma/K{k}/alpha{id_number(alpha)}"

    def recipe_mismatch(self, alpha, meta, part_ratios, layer_ratios):
        return mean_mismatch(alpha, part_ratios)
