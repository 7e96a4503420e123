"""Plain models: theta0 and theta themselves, the ends of every merge curve."""

from __future__ import annotations

from alignment_tax.merge_methods.base import MergeMethod, Variant


class Plain(MergeMethod):
    """``<pair>/theta`` (alpha 0) and, for public pairs, ``<pair>/theta0`` (alpha 1); the
    trained pairs share one theta0, ``sft`` (``sft_variant``). Whatever the policies say,
    a ratio of 0 or 1 everywhere is the model itself, so the config cannot override them."""

    name = "plain"
    label = "plain model"
    configurable = False
    order = 0

    def variants(self, config, pair, algorithm):
        out = []
        if algorithm is None:
            out.append(
                Variant(
                    f"{pair}/theta0",
                    pair,
                    "plain",
                    1.0,
                    1,
                    (1.0,),
                    algorithm=algorithm,
                    hyper={"model": "theta0"},
                )
            )
        out.append(
            Variant(
                f"{pair}/theta",
                pair,
                "plain",
                0.0,
                1,
                (0.0,),
                algorithm=algorithm,
                hyper={"model": "theta"},
            )
        )
        return out

    @staticmethod
    def sft_variant(first_trained_pair: str) -> Variant:
        """theta0 of the trained pairs (models/sft), merged from the first pair's folders."""
        return Variant(
            "sft",
            first_trained_pair,
            "plain",
            1.0,
            1,
            (1.0,),
            algorithm=None,
            hyper={"model": "theta0"},
        )
