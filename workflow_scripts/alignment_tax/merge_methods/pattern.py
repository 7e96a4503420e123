"""Fixed per-part ratio patterns such as "a|a|a-0.1" at a base alpha (paper, figure 9)."""

from __future__ import annotations

from alignment_tax.merge_methods.base import HMA_MERGE, MergeMethod, Variant, fmt, selected
from alignment_tax.merging import pattern_ratios

_TOL = 1e-9


class FixedPattern(MergeMethod):
    """``<pair>/pattern_<a_a_a-0.1>/alpha<base>`` ("|" -> "_" in the id) for
    merging.patterns.patterns x bases, on the pairs of merging.patterns.pairs. Merged as
    the authors' HMA merge, with the pattern's ratios instead of fitted ones."""

    name = "pattern"
    section = "patterns"
    label = "pattern"
    policies = HMA_MERGE
    order = 30

    def variants(self, config, pair, algorithm):
        cfg = self.settings(config)
        patterns = cfg.get("patterns", []) if selected(pair, cfg.get("pairs")) else []
        out = []
        for pattern in patterns:
            for base in cfg.get("bases", []):
                ratios = self.part_ratios(base, pattern=pattern)
                slug = pattern.replace("|", "_")
                out.append(
                    Variant(
                        f"{pair}/pattern_{slug}/alpha{fmt(base)}",
                        pair,
                        self.name,
                        base,
                        len(ratios),
                        ratios,
                        pattern=pattern,
                        algorithm=algorithm,
                    )
                )
        return out

    def part_ratios(self, alpha, *, pattern, **fields):
        return tuple(pattern_ratios(pattern, alpha))

    def recipe_mismatch(self, alpha, meta, part_ratios, layer_ratios):
        pattern = meta.get("pattern")
        if not pattern or part_ratios is None:
            return None
        expected = self.part_ratios(alpha, pattern=pattern)
        if len(expected) != len(part_ratios) or any(
            abs(a - b) > _TOL for a, b in zip(expected, part_ratios, strict=True)
        ):
            return f"meta.part_ratios of pattern {pattern!r} ({part_ratios})"
        return None
