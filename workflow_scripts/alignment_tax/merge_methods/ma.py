"""Whole-model averaging (MA): every tensor at alpha (paper, section 4)."""

from __future__ import annotations

from alignment_tax.merge_methods.base import WHOLE_MODEL, MergeMethod, Variant, fmt


class ModelAveraging(MergeMethod):
    """``<pair>/ma/alpha<a>`` for each of merging.ma.alphas."""

    name = "ma"
    section = "ma"
    label = "MA"
    policies = WHOLE_MODEL
    order = 10

    def variants(self, config, pair, algorithm):
        return [
            Variant(
                f"{pair}/{self.name}/alpha{fmt(a)}",
                pair,
                self.name,
                a,
                1,
                self.part_ratios(a),
                algorithm=algorithm,
            )
            for a in self.settings(config).get("alphas", [])
        ]
