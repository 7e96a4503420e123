"""The merge methods, one small registered class per module (as mergekit's
``merge_methods/``): each owns its config section, the variants it generates for a pair,
its default tensor policies, how a variant becomes per-part ratios, what its recipes must
satisfy, and its label and line style in figures (``base.MergeMethod``).

Adding a method: a module here with a ``MergeMethod`` subclass, its import in
``_MODULES`` below, its config section in config/schema/config.schema.yaml, and a test
(README, "Adding a merge method"). Baselines (alignment_tax.baseline_models) are plain
models, not merge methods. No torch and no matplotlib: rules/*.smk import this package.
"""

from __future__ import annotations

from alignment_tax.merge_methods import (
    adamerging,
    extrapolation,
    hma,
    ma,
    partwise,
    pattern,
    plain,
)
from alignment_tax.merge_methods.base import MergeMethod, Variant, fmt

_MODULES = (plain, ma, extrapolation, partwise, pattern, hma, adamerging)


def _register() -> dict[str, MergeMethod]:
    classes = [
        obj
        for module in _MODULES
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, MergeMethod)
        and obj is not MergeMethod
        and obj.__module__ == module.__name__
    ]
    registry: dict[str, MergeMethod] = {}
    for cls in sorted(classes, key=lambda c: c.order):
        if cls.name in registry:
            raise ValueError(f"two merge methods named {cls.name!r}")
        registry[cls.name] = cls()
    return registry


# name -> method, in the order a pair's variants are listed
REGISTRY: dict[str, MergeMethod] = _register()
MERGE_METHODS: tuple[str, ...] = tuple(REGISTRY)


def get_method(name: str) -> MergeMethod:
    """The merge method called ``name``; an error lists the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown merge method {name!r}; known: {list(REGISTRY)}") from None


def method_or_plain(name: str | None) -> MergeMethod:
    """The method of a recipe's meta.method; baselines and unknown names are plain models
    (one ratio everywhere)."""
    return REGISTRY.get(name or "", REGISTRY["plain"])


__all__ = [
    "MERGE_METHODS",
    "REGISTRY",
    "MergeMethod",
    "Variant",
    "fmt",
    "get_method",
    "method_or_plain",
]
