"""AdaMerging (Yang et al., 2024), the paper's baseline of figure 15: one ratio per
layer with mean alpha, fitted on labelled reading items (rule fit_adamerging)."""

from __future__ import annotations

from alignment_tax.merge_methods.base import HMA_MERGE, MergeMethod, Variant, id_number
from alignment_tax.merge_methods.hma import mean_mismatch


class AdaMerging(MergeMethod):
    """``<pair>/adamerging/alpha<a>`` per mean alpha, for trained pairs of
    merging.adamerging.algorithms; its labelled reading data are new toy-world items, or on
    the paper's path SQuAD v2's train split (rule make_adamerging_data)."""

    name = "adamerging"
    section = "adamerging"
    label = "AdaMerging"
    policies = HMA_MERGE
    fitted = True
    order = 50

    def variants(self, config, pair, algorithm):
        ada = self.settings(config)
        if algorithm is None or algorithm not in ada.get("algorithms", ["rsf"]):
            return []
        return [
            Variant(
                self.variant_id(pair, m),
                pair,
                self.name,
                m,
                None,
                None,
                algorithm=algorithm,
                hyper={"lr": ada.get("lr"), "steps": ada.get("steps")},
            )
            for m in ada.get("mean_alphas", [])
        ]

    def recipe_mismatch(self, alpha, meta, part_ratios, layer_ratios):
        return mean_mismatch(alpha, part_ratios)

    @staticmethod
    def variant_id(pair: str, alpha) -> str:
        """The id, also of rule fit_adamerging's output recipes/<pair>/adamerging/alpha<a>.json
        (its wildcard alpha, a string, gives the same id)."""
        return f"{pair}/adamerging/alpha{id_number(alpha)}"
