"""Score tables: every evaluation JSON of a run in one tidy long table, wide views per
benchmark category, and the Pareto front of any set of (alignment, benchmark) points.

Long table, one row per (variant, benchmark, metric):
    run, variant, model, algorithm, method, alpha, part, pattern, part_ratios, K, hyper,
    group, benchmark, metric, value, stderr, n
- alpha is the weight on theta0 (the SFT model): merged = alpha*theta0 + (1-alpha)*theta.
- part_ratios: per-part weights on theta0 joined with "|" (fitted ones come from the recipe).
- group: the evaluation job (reward, common_sense, reading, translation, pairrm, gpt4).
  Benchmark groups give one row per task (metric acc / f1 / bleu) and one category row
  (benchmark = the category, metric = mean_acc / mean_f1 / mean_bleu).
Wide table per category: one row per variant with the category's task and category scores
next to the alignment scores (reward, true reward, PairRM win rate, AlpacaEval 2.0 win
rates), ready for plotting.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alignment_tax.io import atomic_path, read_json

META_COLUMNS = [
    "run", "variant", "model", "algorithm", "method", "alpha", "part", "pattern",
    "part_ratios", "K", "hyper",
]
SCORE_COLUMNS = ["group", "benchmark", "metric", "value", "stderr", "n"]
LONG_COLUMNS = META_COLUMNS + SCORE_COLUMNS
BENCHMARK_CATEGORIES = ("common_sense", "reading", "translation")
# alignment columns copied into every wide table: (benchmark, metric) -> column name
ALIGNMENT_COLUMNS = {
    ("reward", "reward"): "reward",
    ("reward", "true_reward"): "true_reward",
    ("reward", "length_tokens"): "length_tokens",
    ("pairrm", "win_rate_both_orders"): "pairrm_win_rate",
    ("pairrm", "win_rate_one_order"): "pairrm_win_rate_one_order",
    # AlpacaEval 2.0 (alignment_tax.alpaca_eval_judge), percent
    ("gpt4", "win_rate"): "gpt4_win_rate",
    ("gpt4", "length_controlled_win_rate"): "gpt4_lc_win_rate",
}


def _num(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value


def _row(group: str, benchmark: str, metric: str, summary: Mapping) -> dict:
    return {
        "group": group,
        "benchmark": benchmark,
        "metric": metric,
        "value": _num(summary.get("value", summary.get("mean"))),
        "stderr": _num(summary.get("stderr")),
        "n": int(summary.get("n") or 0),
    }


def score_rows(result: Mapping[str, Any], group: str | None = None) -> list[dict]:
    """Long-table score rows of one evaluation JSON (any group)."""
    group = group or result.get("group")
    if group in BENCHMARK_CATEGORIES:
        rows = [_row(group, task, s["metric"], s) for task, s in result["tasks"].items()]
        rows.append(_row(group, group, result["category"]["metric"], result["category"]))
        return rows
    if group == "reward":
        rows = [_row(group, "reward", "reward", result["reward"])]
        for key in ("true_reward", "length_tokens", "length_words"):
            if key in result:
                rows.append(_row(group, "reward", key, result[key]))
        return rows
    if group == "gpt4":  # AlpacaEval 2.0: win rate and length-controlled win rate, percent
        if result.get("skipped"):
            return []
        return [_row(group, group, metric, result[metric])
                for metric in ("win_rate", "length_controlled_win_rate")]
    if group == "pairrm":
        if result.get("skipped"):
            return []
        return [
            _row(group, group, f"win_rate_{order}", summary)
            for order, summary in result["win_rate"].items()
            if isinstance(summary, Mapping)
        ]
    raise ValueError(f"unknown evaluation group '{group}'")


def variant_meta(
    variant: str,
    recipe: Mapping | None,
    *,
    run: str,
    model: str | None,
    public_pairs: Sequence[str] = (),
) -> dict:
    """Metadata columns of a variant from its recipe's ``meta`` (fitted ratios included).

    model: the pair's name for public pairs (config ``pairs``), else ``model`` (the base
    model the workflow trained from, e.g. "toy" or a hub id).
    """
    meta = dict((recipe or {}).get("meta") or {})
    ratios = meta.get("part_ratios")
    hyper = meta.get("hyper")
    algorithm = meta.get("algorithm")
    return {
        "run": run,
        "variant": variant,
        "model": meta.get("pair") if meta.get("pair") in public_pairs else model,
        "algorithm": algorithm,
        "method": meta.get("method"),
        "alpha": _num(meta.get("alpha")),
        "part": meta.get("part"),
        "pattern": meta.get("pattern"),
        "part_ratios": "|".join(f"{float(r):.4g}" for r in ratios) if ratios else None,
        "K": _num(meta.get("K")),
        "hyper": json.dumps(hyper, sort_keys=True) if hyper else None,
    }


def parse_eval_path(path: str | Path, eval_root: str | Path) -> tuple[str, str]:
    """(variant, group) of results/<run>/eval/<variant>/<group>.json."""
    rel = Path(path).resolve().relative_to(Path(eval_root).resolve())
    if len(rel.parts) < 2 or rel.suffix != ".json":
        raise ValueError(f"{path} is not <eval_root>/<variant>/<group>.json")
    return "/".join(rel.parts[:-1]), rel.stem


def long_table(
    eval_files: Iterable[str | Path],
    *,
    eval_root: str | Path,
    recipes: Mapping[str, str | Path | Mapping] | None = None,
    run: str = "",
    model: str | None = None,
    public_pairs: Sequence[str] = (),
) -> pd.DataFrame:
    """The tidy long table of all ``eval_files``; ``recipes`` maps variant -> recipe."""
    recipes = recipes or {}
    rows = []
    for path in eval_files:
        variant, group = parse_eval_path(path, eval_root)
        recipe = recipes.get(variant)
        if recipe is not None and not isinstance(recipe, Mapping):
            recipe = read_json(recipe)
        meta = variant_meta(variant, recipe, run=run, model=model, public_pairs=public_pairs)
        for score in score_rows(read_json(path), group):
            rows.append({**meta, **score})
    frame = pd.DataFrame(rows, columns=LONG_COLUMNS)
    frame["K"] = frame["K"].astype("Int64")  # a count; nullable (AdaMerging has none)
    return frame.sort_values(["variant", "group", "benchmark", "metric"], kind="stable",
                             ignore_index=True)


def wide_table(long: pd.DataFrame, category: str) -> pd.DataFrame:
    """One row per variant: the category's task and category scores (+ stderr) and the
    alignment scores, next to the variant's metadata."""
    meta = long[META_COLUMNS].drop_duplicates("variant").set_index("variant")
    cat = long[long["group"] == category]
    values = cat.pivot_table(index="variant", columns="benchmark", values="value",
                             aggfunc="first")
    errors = cat.pivot_table(index="variant", columns="benchmark", values="stderr",
                             aggfunc="first").add_suffix("_stderr")
    wide = meta.join(values, how="left").join(errors, how="left")
    for (bench, metric), column in ALIGNMENT_COLUMNS.items():
        part = long[(long["benchmark"] == bench) & (long["metric"] == metric)]
        part = part.set_index("variant")[["value", "stderr"]]
        wide[column] = part["value"].reindex(wide.index)
        wide[f"{column}_stderr"] = part["stderr"].reindex(wide.index)
    wide = wide.dropna(axis=1, how="all").reset_index()
    return wide.sort_values("variant", ignore_index=True)


def pareto_front(points, maximize: Sequence[bool] | bool = True) -> np.ndarray:
    """Indices of the non-dominated points, ordered by the first coordinate.

    ``points``: array-like of shape (n, d) (a DataFrame's columns work). A point is
    dominated when another is at least as good in every coordinate and better in one;
    ``maximize`` says per coordinate whether larger is better. Rows with NaN are ignored.
    """
    arr = np.asarray(points, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"points must be 2-D (n, d), got shape {arr.shape}")
    if isinstance(maximize, bool):
        maximize = [maximize] * arr.shape[1]
    if len(maximize) != arr.shape[1]:
        raise ValueError(f"maximize has {len(maximize)} entries for {arr.shape[1]} coordinates")
    signs = np.where(np.asarray(maximize, dtype=bool), 1.0, -1.0)
    scored = arr * signs
    valid = ~np.isnan(scored).any(axis=1)
    front = []
    for i in np.flatnonzero(valid):
        others = scored[valid]
        dominated = np.any(np.all(others >= scored[i], axis=1) & np.any(others > scored[i], axis=1))
        if not dominated:
            front.append(i)
    front = np.asarray(front, dtype=int)
    return front[np.argsort(arr[front, 0], kind="stable")] if len(front) else front


def write_tables(long: pd.DataFrame, out_dir: str | Path,
                 categories: Sequence[str] = BENCHMARK_CATEGORIES) -> dict[str, Path]:
    """scores_long.csv/.parquet and wide_<category>.csv (categories present) in ``out_dir``."""
    out_dir = Path(out_dir)
    written = {}
    with atomic_path(out_dir / "scores_long.csv") as tmp:
        long.to_csv(tmp, index=False)
    written["scores_long.csv"] = out_dir / "scores_long.csv"
    with atomic_path(out_dir / "scores_long.parquet") as tmp:
        long.to_parquet(tmp, index=False)
    written["scores_long.parquet"] = out_dir / "scores_long.parquet"
    for category in categories:
        wide = wide_table(long, category)
        with atomic_path(out_dir / f"wide_{category}.csv") as tmp:
            wide.to_csv(tmp, index=False)
        written[f"wide_{category}.csv"] = out_dir / f"wide_{category}.csv"
    return written


def _score(long: pd.DataFrame, variant: str, benchmark: str, metric: str | None = None) -> float:
    rows = long[(long["variant"] == variant) & (long["benchmark"] == benchmark)]
    if metric is not None:
        rows = rows[rows["metric"] == metric]
    return float(rows["value"].iloc[0]) if len(rows) else math.nan


def _stderr(long: pd.DataFrame, variant: str) -> float:
    rows = long[(long["variant"] == variant) & (long["metric"] == "reward")]
    value = float(rows["stderr"].iloc[0]) if len(rows) else math.nan
    return 0.0 if math.isnan(value) else value


def alignment_tax_checks(long: pd.DataFrame, *, theta0: str = "sft",
                         categories: Sequence[str] = BENCHMARK_CATEGORIES) -> dict[str, Any]:
    """What the toy run must show, measured from the long table (trained pairs only).

    Per RLHF algorithm: reward of theta vs theta0; the categories where theta scores below
    theta0 (the alignment tax); whether MA at the intermediate alpha closest to 0.5 has a
    reward between theta's and theta0's, strictly and within two standard errors (both
    are reported; the toy run is held to the strict one).
    """
    reward0 = _score(long, theta0, "reward", "reward")
    out: dict[str, Any] = {"theta0_reward": reward0, "algorithms": {}}
    algorithms = sorted(a for a in long["algorithm"].dropna().unique())
    for algo in algorithms:
        theta = f"{algo}/theta"
        reward = _score(long, theta, "reward", "reward")
        taxed = [c for c in categories if _score(long, theta, c) < _score(long, theta0, c)]
        ma = long[(long["algorithm"] == algo) & (long["method"] == "ma")
                  & (long["alpha"] > 0) & (long["alpha"] < 1)]
        ma_check = None
        if len(ma):
            alpha = min(ma["alpha"].unique(), key=lambda a: (abs(a - 0.5), a))
            variant = ma[ma["alpha"] == alpha]["variant"].iloc[0]
            ma_reward = _score(long, variant, "reward", "reward")
            low, high = sorted([(reward0, theta0), (reward, theta)])
            # Two standard errors of the difference to the nearer end: the toy reward model
            # saturates near its maximum, where MA and theta differ by sampling noise alone.
            se_ma = _stderr(long, variant)
            tol_low = 2 * math.hypot(se_ma, _stderr(long, low[1]))
            tol_high = 2 * math.hypot(se_ma, _stderr(long, high[1]))
            ma_check = {"alpha": float(alpha), "reward": ma_reward,
                        "strictly_between": low[0] <= ma_reward <= high[0],
                        "between": low[0] - tol_low <= ma_reward <= high[0] + tol_high}
        out["algorithms"][algo] = {
            "reward": reward,
            "reward_above_theta0": reward > reward0,
            "taxed_categories": taxed,
            "ma": ma_check,
        }
    algos = out["algorithms"].values()
    out["all_rlhf_above_theta0"] = bool(algos) and all(a["reward_above_theta0"] for a in algos)
    out["n_algorithms_taxed_on_2_categories"] = sum(len(a["taxed_categories"]) >= 2 for a in algos)
    out["ma_between_for_all"] = bool(algos) and all(a["ma"] and a["ma"]["between"] for a in algos)
    out["ma_strictly_between_for_all"] = bool(algos) and all(
        a["ma"] and a["ma"]["strictly_between"] for a in algos
    )
    return out
