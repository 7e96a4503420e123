"""Part-wise MA: one of the three parts (input, middle, output) averaged at alpha, the
rest theta (paper, figures 4 and 13)."""

from __future__ import annotations

from alignment_tax.merge_methods.base import WHOLE_MODEL, MergeMethod, Variant, fmt, selected
from alignment_tax.merging import PART_NAMES


class PartwiseAveraging(MergeMethod):
    """``<pair>/part_<input|middle|output>/alpha<a>``: merging.partwise.parts x alphas, for
    the pairs of merging.partwise.pairs (null = every pair)."""

    name = "partwise"
    section = "partwise"
    label = "part"
    policies = WHOLE_MODEL
    order = 20

    def variants(self, config, pair, algorithm):
        cfg = self.settings(config)
        parts = cfg.get("parts", []) if selected(pair, cfg.get("pairs")) else []
        return [
            Variant(
                f"{pair}/part_{part}/alpha{fmt(a)}",
                pair,
                self.name,
                a,
                len(PART_NAMES),
                self.part_ratios(a, part=part),
                part=part,
                algorithm=algorithm,
            )
            for part in parts
            for a in cfg.get("alphas", [])
        ]

    def part_ratios(self, alpha, *, part, **fields):
        index = PART_NAMES.index(part)
        return tuple(alpha if i == index else 0.0 for i in range(len(PART_NAMES)))

    def recipe_mismatch(self, alpha, meta, part_ratios, layer_ratios):
        if (
            part_ratios is not None
            and sorted(part_ratios, reverse=True)[:2] != [alpha, 0.0][: len(part_ratios)]
        ):
            return f"meta.part_ratios (alpha in the averaged part, 0 elsewhere) ({part_ratios})"
        return None
