"""Model extrapolation (ExPO; Zheng et al., 2024, "Weak-to-Strong Extrapolation Expedites
Alignment"): go past theta, away from theta0, along the RLHF update.

In this project's convention merged = alpha * theta0 + (1 - alpha) * theta, so
extrapolation is alpha < 0: alpha = -0.2 is 1.2 * theta - 0.2 * theta0 (ExPO's
theta + w * (theta - theta0) with w = -alpha). Like MA it moves every tensor (whole-model
policies, not configurable): a figure continues each MA curve beyond theta with it.
"""

from __future__ import annotations

from alignment_tax.merge_methods.base import WHOLE_MODEL
from alignment_tax.merge_methods.ma import ModelAveraging


class Extrapolation(ModelAveraging):
    """``<pair>/extrapolation/alpha<a>`` for each of merging.extrapolation.alphas (< 0)."""

    name = "extrapolation"
    section = "extrapolation"
    label = "extrapolation"
    linestyle = "--"
    marker = "^"
    policies = WHOLE_MODEL
    configurable = False  # every tensor extrapolated, whatever merging.norms etc. say
    min_ratio = -1.0  # the schema's bound on merging.extrapolation.alphas
    order = 15

    def variants(self, config, pair, algorithm):
        for a in self.settings(config).get("alphas", []):
            if not a < 0:  # the schema says so too; no recipe may be made from it
                raise ValueError(
                    f"config key 'merging.extrapolation.alphas': {a} is not below 0 "
                    "(alpha in [0, 1] is merging.ma)"
                )
        return super().variants(config, pair, algorithm)  # as MA's, named extrapolation

    def recipe_mismatch(self, alpha, meta, part_ratios, layer_ratios):
        if not alpha < 0:
            return f"the method ({self.name} needs alpha < 0; alpha in [0, 1] is MA)"
        return super().recipe_mismatch(alpha, meta, part_ratios, layer_ratios)
