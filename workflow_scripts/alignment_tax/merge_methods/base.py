"""What every merge method is: a small class that owns its config section, the variants it
generates for a pair, its default tensor policies, how a variant becomes per-part ratios,
what a recipe of it must satisfy, and its label and line style in figures.

Convention: alpha (and every part ratio) is the WEIGHT ON theta0, the pre-RLHF SFT model:
merged = alpha * theta0 + (1 - alpha) * theta; alpha = 0 is the RLHF model.
No torch and no matplotlib here: rules/*.smk import this package at every parse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

# whole-model policies: every tensor outside the linear layers follows its part's ratio
WHOLE_MODEL = {"norms": "part", "embeddings": "part", "lm_head": "part"}
# the authors' HMA merge (also fixed patterns and AdaMerging): linear layers per part,
# lm_head at the global alpha, embeddings and norms copied from theta0
HMA_MERGE = {"norms": "theta0", "embeddings": "theta0", "lm_head": "alpha"}

_TOL = 1e-9


def fmt(x: float) -> str:
    """A number in a variant id."""
    return f"{float(x):g}"


def id_number(x: float | str) -> str:
    """A number in a variant id; a string (a rule's wildcard, already in the id's form) is
    kept as it is, so a path that is not a variant's never finds one."""
    return x if isinstance(x, str) else fmt(x)


@dataclass(frozen=True)
class Variant:
    """One evaluated model: its id (the Snakemake wildcard ``{variant}``) and every field
    figures, tables and rules need, so nothing parses the id back."""

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


def selected(pair: str, names: Sequence[str] | None) -> bool:
    """Whether a per-pair option list (null = every pair) includes ``pair``."""
    return names is None or pair in names


class MergeMethod:
    """Base class; a method overrides the class attributes and ``variants``.

    ``min_ratio`` bounds every ratio of the method's recipes from below (weights on
    theta0; the bound above is 1, theta0 itself);
    ``configurable`` says whether config merging.<norms|embeddings|lm_head> may override
    ``policies``; ``fitted`` methods get their part ratios from a fit (a rule of their own),
    the others from ``part_ratios``. ``order`` places the method's variants of a pair.
    """

    name: ClassVar[str]
    section: ClassVar[str | None] = None  # config merging.<section>
    label: ClassVar[str]  # series label in figures
    color: ClassVar[str | None] = None  # None: the colour of the series' position
    linestyle: ClassVar[str] = "-"
    marker: ClassVar[str] = "o"
    policies: ClassVar[dict[str, str]] = WHOLE_MODEL
    configurable: ClassVar[bool] = True
    fitted: ClassVar[bool] = False
    min_ratio: ClassVar[float] = 0.0  # every ratio of its recipes lies in [min_ratio, 1]
    order: ClassVar[int]

    def settings(self, config: dict) -> dict:
        """The method's config section, merging.<section> ({} when absent)."""
        if self.section is None:
            return {}
        return config.get("merging", {}).get(self.section) or {}

    def variants(self, config: dict, pair: str, algorithm: str | None) -> list[Variant]:
        """The method's variants of one pair (``algorithm``: the RLHF algorithm that made
        theta, None for a public pair)."""
        raise NotImplementedError

    def part_ratios(self, alpha: float, **fields) -> tuple[float, ...] | None:
        """A variant's ratios, one per part (weights on theta0); None when fitted."""
        return None if self.fitted else (alpha,)

    def recipe_mismatch(
        self, alpha: float, meta: dict, part_ratios: list[float] | None, layer_ratios: list[float]
    ) -> str | None:
        """What in a recipe disagrees with its meta.alpha (None: nothing). Default: one
        ratio everywhere (whole-model methods, plain models and baselines)."""
        if any(abs(r - alpha) > _TOL for r in layer_ratios):
            return f"layer_ratios ({layer_ratios})"
        return None
