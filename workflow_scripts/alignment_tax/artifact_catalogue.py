"""The catalogue of the paper's artifacts: which figures and tables exist, what they draw.

Data only, no drawing and no matplotlib: ``rules/common.smk`` imports this module at
every workflow parse, so on every cluster job. An artifact is a list of *series* (one
curve per method, points joined in the order of their hyper-parameter) per panel row; a
series is a selector over the rows of the wide per-category score tables written by
``alignment_tax.tables`` (``wide_<category>.csv``). ``artifacts(config)`` says which
artifacts a configuration defines, ``skipped_artifacts`` / ``buildable_artifacts`` which
of them it can make, and ``load_wide_tables`` / ``series_points`` read the tables and pick
a series' points. ``alignment_tax.figures`` draws these; ``alignment_tax.paper_claims``
checks the paper's claims on the same points. Merge convention on every axis:
merged = alpha * theta0 + (1 - alpha) * theta (alpha = weight on the SFT model theta0).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alignment_tax.merge_methods import get_method
from alignment_tax.tables import BENCHMARK_CATEGORIES

META_FIELDS = ("method", "alpha", "part", "pattern", "K", "hyper", "reward")


@dataclass(frozen=True)
class Series:
    """One curve: rows of a pair's table selected by ``select``, ordered by ``order_by``."""

    label: str
    pair: str
    select: Callable[[pd.DataFrame], pd.Series]
    order_by: str = "alpha"
    # order_by values of the plain models, which have none of their own: (theta0, theta)
    plain_order: tuple[float, float] | None = None
    # the line: colour (None: the series' position in its panel), style and marker (a
    # method's own, merge_methods.MergeMethod.linestyle / marker)
    color: str | None = None
    linestyle: str = "-"
    marker: str = "o"


@dataclass(frozen=True)
class Artifact:
    name: str
    title: str
    kind: str  # tradeoff | per_benchmark | training_curve | table
    rows: tuple[tuple[str, tuple[Series, ...]], ...] = ()  # (row title, series)
    categories: tuple[str, ...] = BENCHMARK_CATEGORIES
    x: str = "reward"
    needs: tuple[str, ...] = field(default_factory=tuple)  # what the config must run


def _method(name: str, **equal) -> Callable[[pd.DataFrame], pd.Series]:
    def select(df: pd.DataFrame) -> pd.Series:
        mask = df["method"] == name
        for column, value in equal.items():
            mask &= df[column] == value
        return mask

    return select


def _hma(K: int | None = None) -> Callable[[pd.DataFrame], pd.Series]:
    """HMA variants (of K parts): each is the candidate fit (lr, epsilon) of least held-out
    loss on D_theta, chosen before any evaluation (rule select_hma)."""

    def select(df: pd.DataFrame) -> pd.Series:
        mask = df["method"] == "hma"
        if K is not None:
            mask &= df["K"] == K
        return mask

    return select


def _alpha_in(low: float, high: float, inner: Callable) -> Callable:
    return lambda df: inner(df) & df["alpha"].between(low - 1e-9, high + 1e-9)


def pair_of(variant: str) -> str:
    return variant.split("/", 1)[0]


def _with_endpoints(inner: Callable) -> Callable:
    """A merge curve joined to its ends: theta (alpha = 0) and theta0 (alpha = 1) are the
    plain variants, evaluated once rather than once per curve."""
    return lambda df: inner(df) | (df["method"] == "plain")


def ma(pair: str, label: str = get_method("ma").label, **style) -> Series:
    return Series(label, pair, _with_endpoints(_method("ma")), **style)


def extrapolation(pair: str, label: str, **style) -> Series:
    """Model extrapolation beyond theta (alpha < 0), joined to theta (alpha = 0): the
    continuation of the pair's MA curve past the RLHF model."""
    method = get_method("extrapolation")
    extrapolated, theta = _method(method.name), _method("plain", alpha=0.0)

    def select(df: pd.DataFrame) -> pd.Series:
        beyond = extrapolated(df)
        return beyond | (theta(df) & beyond.any())  # no points at all without extrapolation

    return Series(label, pair, select, linestyle=method.linestyle, marker=method.marker,
                  **style)


def artifact_settings(config: dict) -> dict:
    """The part of a config that decides which artifacts exist and what they draw (passed
    to the plotting rule as a param, so exactly these values trigger a redraw)."""
    merging = config.get("merging", {})
    return {
        "stages": dict(config["stages"]),
        "rlhf": {
            "algorithms": list(config.get("rlhf", {}).get("algorithms", [])),
            "rsf": {"iterations": config.get("rlhf", {}).get("rsf", {}).get("iterations")},
        },
        "pairs": [{"name": p["name"]} for p in config.get("pairs", [])],
        "merging": {
            "hma": {"Ks": list(merging.get("hma", {}).get("Ks", []))},
            "partwise": {"parts": list(merging.get("partwise", {}).get("parts", []))},
            "patterns": {"patterns": list(merging.get("patterns", {}).get("patterns", []))},
            "adamerging": bool(merging.get("adamerging")),
        },
    }


def artifacts(config: dict) -> dict[str, Artifact]:
    """Every data artifact of the paper, as far as this configuration defines its inputs."""
    algorithms = (
        config.get("rlhf", {}).get("algorithms", []) if config["stages"].get("training") else []
    )
    public = [p["name"] for p in config.get("pairs", [])]
    Ks = config.get("merging", {}).get("hma", {}).get("Ks", [])
    parts = config.get("merging", {}).get("partwise", {}).get("parts", [])
    patterns = config.get("merging", {}).get("patterns", {}).get("patterns", [])

    def partwise(pair: str) -> tuple[Series, ...]:
        return tuple(
            Series(f"{p} part", pair, _with_endpoints(_method("partwise", part=p))) for p in parts
        ) + (ma(pair, "whole model (MA)"),)

    def hma_vs_ma(pair: str, low=0.0, high=1.0) -> tuple[Series, ...]:
        return (
            Series(
                "HMA (K=3)" if 3 in Ks else "HMA",
                pair,
                _alpha_in(low, high, _hma(3 if 3 in Ks else None)),
            ),
            Series("MA", pair, _alpha_in(low, high, _with_endpoints(_method("ma")))),
        )

    out: dict[str, Artifact] = {}
    rsf = "rsf" if "rsf" in algorithms else None
    baselines = [
        ("early stopping", "early_stopping", "iteration"),
        ("L1 penalty", "l1", "hyper_value"),
        ("L2 penalty", "l2", "hyper_value"),
        ("LoRA (MLP)", "lora_mlp", "hyper_value"),
        ("LoRA (MLP+attention)", "lora_mlp_attn", "hyper_value"),
        ("distillation", "distillation", "hyper_value"),
        ("SMA", "sma", "hyper_value"),
    ]
    if rsf:
        out["fig3"] = Artifact(
            "fig3",
            "Existing mitigation methods vs model averaging (RSF)",
            "tradeoff",
            (
                (
                    "RSF",
                    (ma(rsf),)
                    + tuple(Series(label, rsf, _method(m), order) for label, m, order in baselines),
                ),
            ),
            needs=("baselines",),
        )
        out["fig4"] = Artifact(
            "fig4",
            "Averaging one part of the transformer (RSF)",
            "tradeoff",
            (("RSF", partwise(rsf)),),
        )
        out["fig7"] = Artifact(
            "fig7",
            "Experience replay vs model averaging (RSF)",
            "tradeoff",
            (
                (
                    "RSF",
                    (Series("experience replay", rsf, _method("replay"), "hyper_value"), ma(rsf)),
                ),
            ),
            needs=("baselines",),
        )
        out["fig9"] = Artifact(
            "fig9",
            "Per-part ratio patterns vs model averaging (RSF)",
            "tradeoff",
            (
                (
                    "RSF",
                    tuple(
                        Series(f"({p.replace('a', 'α')})", rsf, _method("pattern", pattern=p))
                        for p in patterns
                    )
                    + (ma(rsf),),
                ),
            ),
        )
        out["fig10"] = Artifact(
            "fig10",
            "MA at alpha = 0.2 vs the RLHF model, per benchmark",
            "per_benchmark",
            (
                (
                    "RSF",
                    (
                        Series("RLHF model (theta)", rsf, _method("plain", alpha=0.0)),
                        Series("MA, alpha = 0.2", rsf, _method("ma", alpha=0.2)),
                    ),
                ),
            ),
        )
        out["fig11"] = Artifact(
            "fig11",
            "HMA at alpha = 0.2 vs the RLHF model, per benchmark",
            "per_benchmark",
            (
                (
                    "RSF",
                    (
                        Series("RLHF model (theta)", rsf, _method("plain", alpha=0.0)),
                        Series(
                            "HMA, alpha = 0.2",
                            rsf,
                            _alpha_in(0.2, 0.2, _hma(3 if 3 in Ks else None)),
                        ),
                    ),
                ),
            ),
        )
        # iterations 0 (theta0) and the last (the RSF model) are the plain variants
        last_iteration = config.get("rlhf", {}).get("rsf", {}).get("iterations")
        out["fig12"] = Artifact(
            "fig12",
            "Alignment-forgetting trade-off during RSF training",
            "training_curve",
            (
                (
                    "RSF",
                    (
                        Series(
                            "RSF iteration",
                            rsf,
                            _with_endpoints(_method("early_stopping")),
                            "iteration",
                            plain_order=(0.0, float(last_iteration or np.nan)),
                        ),
                    ),
                ),
            ),
            needs=("baselines",),
        )
        if Ks:
            rows = [("RSF", hma_vs_ma(rsf, 0.1, 0.6))]
            if "dpo" in algorithms:
                rows.append(("DPO", hma_vs_ma("dpo", 0.1, 0.6)))
            rows.append(
                (
                    "RSF, K ablation",
                    tuple(Series(f"HMA K={k}", rsf, _hma(k)) for k in Ks) + (ma(rsf),),
                )
            )
            out["fig5"] = Artifact("fig5", "HMA vs MA", "tradeoff", tuple(rows))
        if config.get("merging", {}).get("adamerging"):
            out["fig15"] = Artifact(
                "fig15",
                "AdaMerging (fitted on Reading items disjoint from the evaluated ones) vs MA (RSF)",
                "tradeoff",
                (("RSF", (Series("AdaMerging", rsf, _method("adamerging")), ma(rsf))),),
                categories=("reading", "common_sense"),
            )
    if "ppo" in algorithms:
        out["fig8"] = Artifact(
            "fig8",
            "KL reward penalty for PPO vs model averaging",
            "tradeoff",
            (
                (
                    "PPO",
                    (Series("PPO, KL penalty", "ppo", _method("ppo_kl"), "hyper_value"), ma("ppo")),
                ),
            ),
            needs=("baselines",),
        )
    if algorithms:
        out["fig13"] = Artifact(
            "fig13",
            "Part-wise averaging for each RLHF algorithm",
            "tradeoff",
            tuple((a.upper(), partwise(a)) for a in algorithms),
        )
        # each algorithm's MA curve (theta0 -> theta) and, in its colour, the extrapolation
        # beyond theta (merging.extrapolation; not drawn where the config has none)
        extra = get_method("extrapolation").label
        out["fig14"] = Artifact(
            "fig14",
            "RLHF algorithms compared (MA curves)",
            "tradeoff",
            (
                (
                    "MA",
                    tuple(
                        ma(a, f"{a.upper()} (MA)", color=f"C{i}") for i, a in enumerate(algorithms)
                    )
                    + tuple(
                        extrapolation(a, f"{a.upper()} ({extra})", color=f"C{i}")
                        for i, a in enumerate(algorithms)
                    ),
                ),
            ),
        )
        if Ks:
            out["fig16"] = Artifact(
                "fig16",
                "HMA vs MA for each RLHF algorithm",
                "tradeoff",
                tuple((a.upper(), hma_vs_ma(a)) for a in algorithms),
            )
    if public:
        first = public[0]
        out["fig6"] = Artifact(
            "fig6",
            f"{first} judged by PairRM",
            "tradeoff",
            (("averaging different blocks", partwise(first)), ("HMA vs MA", hma_vs_ma(first))),
            x="pairrm_win_rate",
            needs=("pairrm",),
        )
        out["table1"] = Artifact(
            "table1",
            "GPT-4 judged AlpacaEval win rate and NLP scores",
            "table",
            tuple(
                (
                    p,
                    (
                        Series("theta", p, _method("plain", alpha=0.0)),
                        Series(
                            "HMA (alpha 0.2)", p, _alpha_in(0.2, 0.2, _hma(3 if 3 in Ks else None))
                        ),
                    ),
                )
                for p in public
            ),
            needs=("gpt4_judge",),
        )
    return out


def skipped_artifacts(config: dict) -> dict[str, str]:
    """Artifacts this configuration cannot make, with the reason."""
    all_names = [f"fig{i}" for i in range(3, 17)] + ["table1"]
    made = artifacts(config)
    reasons = {}
    for name in all_names:
        if name not in made:
            reasons[name] = "its models are not part of this configuration"
            continue
        missing = [n for n in made[name].needs if not config["stages"].get(n)]
        if missing:
            reasons[name] = f"needs stages {missing}, off in this configuration"
    return reasons


def buildable_artifacts(config: dict) -> list[str]:
    skipped = skipped_artifacts(config)
    return [name for name in artifacts(config) if name not in skipped]


# --------------------------------------------------------------------------- data


def load_wide_tables(paths: dict[str, str]) -> dict[str, pd.DataFrame]:
    tables = {}
    for category, path in paths.items():
        df = pd.read_csv(path)
        for column in META_FIELDS:  # the wide tables drop columns that are empty in a run
            if column not in df.columns:
                df[column] = np.nan
        df["pair"] = df["variant"].map(pair_of)
        if "hyper_value" not in df.columns:
            df["hyper_value"] = df["hyper"].map(_hyper_value)
        if "iteration" not in df.columns:
            df["iteration"] = df["hyper"].map(lambda h: _hyper_value(h, "iteration"))
        tables[category] = df
    return tables


def _hyper_value(hyper, key: str = "value") -> float:
    if not isinstance(hyper, str):
        return np.nan
    value = json.loads(hyper).get(key)
    return float(value) if isinstance(value, int | float) else np.nan


def series_points(df: pd.DataFrame, series: Series, x: str, y: str) -> pd.DataFrame:
    if x not in df.columns or y not in df.columns:
        return df.iloc[0:0]
    pair_rows = df[(df["pair"] == series.pair) | (df["variant"] == "sft")]
    rows = pair_rows[series.select(pair_rows).fillna(False).astype(bool)]
    if series.plain_order is not None and series.order_by in rows:
        plain = rows["method"] == "plain"
        order = np.where(rows["alpha"] == 1.0, series.plain_order[0], series.plain_order[1])
        rows = rows.assign(**{series.order_by: rows[series.order_by].where(~plain, order)})
        rows = rows.dropna(subset=[series.order_by])
    rows = rows.dropna(subset=[x, y])
    return rows.sort_values(series.order_by, kind="stable") if series.order_by in rows else rows
