"""The paper's figures and table 1, drawn from the score tables only.

Every artifact reads the wide per-category tables written by ``alignment_tax.tables``
(``wide_<category>.csv``): no number is typed in here. A figure is a list of *series*
(one curve per method, points joined in the order of their hyper-parameter) drawn on one
panel per benchmark category, x = alignment reward, y = the category score, with the
Pareto front of all drawn points marked. Merge convention on every axis:
merged = alpha * theta0 + (1 - alpha) * theta (alpha = weight on the SFT model theta0).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on clusters or CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from alignment_tax.io import atomic_path  # noqa: E402
from alignment_tax.tables import BENCHMARK_CATEGORIES, pareto_front  # noqa: E402

CATEGORY_LABELS = {
    "common_sense": "Common Sense (mean accuracy)",
    "reading": "Reading Comprehension (mean F1)",
    "translation": "Translation (BLEU)",
}
ALPHA_NOTE = "alpha = weight on theta0 (SFT): merged = alpha*theta0 + (1-alpha)*theta"

META_FIELDS = ("method", "alpha", "part", "pattern", "K", "hyper", "reward")

# The paper's table 1 (for comparison only; labelled as the paper's wherever shown).
PAPER_TABLE1 = pd.DataFrame(
    [
        ("zephyr-7b-beta", "theta", 8.10, 37.47, 66.34, 36.55),
        ("zephyr-7b-beta", "HMA (alpha 0.2)", 9.32, 38.93, 66.55, 37.23),
        ("zephyr-7b-gemma", "theta", 11.3, 41.15, 66.3, 38.09),
        ("zephyr-7b-gemma", "HMA (alpha 0.2)", 11.5, 42.45, 66.4, 38.71),
    ],
    columns=["pair", "model", "win_rate", "reading", "common_sense", "translation"],
)


@dataclass(frozen=True)
class Series:
    """One curve: rows of a pair's table selected by ``select``, ordered by ``order_by``."""

    label: str
    pair: str
    select: Callable[[pd.DataFrame], pd.Series]
    order_by: str = "alpha"
    # order_by values of the plain models, which have none of their own: (theta0, theta)
    plain_order: tuple[float, float] | None = None


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


def ma(pair: str, label: str = "MA") -> Series:
    return Series(label, pair, _with_endpoints(_method("ma")))


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
    algorithms = config.get("rlhf", {}).get("algorithms", []) if config["stages"].get(
        "training") else []
    public = [p["name"] for p in config.get("pairs", [])]
    Ks = config.get("merging", {}).get("hma", {}).get("Ks", [])
    parts = config.get("merging", {}).get("partwise", {}).get("parts", [])
    patterns = config.get("merging", {}).get("patterns", {}).get("patterns", [])

    def partwise(pair: str) -> tuple[Series, ...]:
        return tuple(Series(f"{p} part", pair, _with_endpoints(_method("partwise", part=p)))
                     for p in parts) + (
            ma(pair, "whole model (MA)"),)

    def hma_vs_ma(pair: str, low=0.0, high=1.0) -> tuple[Series, ...]:
        return (Series("HMA (K=3)" if 3 in Ks else "HMA", pair,
                       _alpha_in(low, high, _hma(3 if 3 in Ks else None))),
                Series("MA", pair, _alpha_in(low, high, _with_endpoints(_method("ma")))))

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
        out["fig3"] = Artifact("fig3", "Existing mitigation methods vs model averaging (RSF)",
                               "tradeoff", (("RSF", (ma(rsf),) + tuple(
                                   Series(label, rsf, _method(m), order) for label, m, order in
                                   baselines)),), needs=("baselines",))
        out["fig4"] = Artifact("fig4", "Averaging one part of the transformer (RSF)",
                               "tradeoff", (("RSF", partwise(rsf)),))
        out["fig7"] = Artifact("fig7", "Experience replay vs model averaging (RSF)", "tradeoff",
                               (("RSF", (Series("experience replay", rsf, _method("replay"),
                                                "hyper_value"), ma(rsf))),),
                               needs=("baselines",))
        out["fig9"] = Artifact("fig9", "Per-part ratio patterns vs model averaging (RSF)",
                               "tradeoff", (("RSF", tuple(
                                   Series(f"({p.replace('a', 'α')})", rsf,
                                          _method("pattern", pattern=p)) for p in patterns)
                                   + (ma(rsf),)),))
        out["fig10"] = Artifact("fig10", "MA at alpha = 0.2 vs the RLHF model, per benchmark",
                                "per_benchmark", (("RSF", (
                                    Series("RLHF model (theta)", rsf, _method("plain", alpha=0.0)),
                                    Series("MA, alpha = 0.2", rsf, _method("ma", alpha=0.2)))),))
        out["fig11"] = Artifact("fig11", "HMA at alpha = 0.2 vs the RLHF model, per benchmark",
                                "per_benchmark", (("RSF", (
                                    Series("RLHF model (theta)", rsf, _method("plain", alpha=0.0)),
                                    Series("HMA, alpha = 0.2", rsf,
                                           _alpha_in(0.2, 0.2, _hma(3 if 3 in Ks else None))))),))
        # iterations 0 (theta0) and the last (the RSF model) are the plain variants
        last_iteration = config.get("rlhf", {}).get("rsf", {}).get("iterations")
        out["fig12"] = Artifact("fig12", "Alignment-forgetting trade-off during RSF training",
                                "training_curve", (("RSF", (Series(
                                    "RSF iteration", rsf,
                                    _with_endpoints(_method("early_stopping")), "iteration",
                                    plain_order=(0.0, float(last_iteration or np.nan))),)),),
                                needs=("baselines",))
        if Ks:
            rows = [("RSF", hma_vs_ma(rsf, 0.1, 0.6))]
            if "dpo" in algorithms:
                rows.append(("DPO", hma_vs_ma("dpo", 0.1, 0.6)))
            rows.append(("RSF, K ablation", tuple(
                Series(f"HMA K={k}", rsf, _hma(k)) for k in Ks) + (ma(rsf),)))
            out["fig5"] = Artifact("fig5", "HMA vs MA", "tradeoff", tuple(rows))
        if config.get("merging", {}).get("adamerging"):
            out["fig15"] = Artifact("fig15", "AdaMerging (fitted on Reading items disjoint from "
                                    "the evaluated ones) vs MA (RSF)",
                                    "tradeoff", (("RSF", (
                                        Series("AdaMerging", rsf, _method("adamerging")),
                                        ma(rsf))),), categories=("reading", "common_sense"))
    if "ppo" in algorithms:
        out["fig8"] = Artifact("fig8", "KL reward penalty for PPO vs model averaging",
                               "tradeoff", (("PPO", (Series("PPO, KL penalty", "ppo",
                                                            _method("ppo_kl"), "hyper_value"),
                                                     ma("ppo"))),), needs=("baselines",))
    if algorithms:
        out["fig13"] = Artifact("fig13", "Part-wise averaging for each RLHF algorithm",
                                "tradeoff", tuple((a.upper(), partwise(a)) for a in algorithms))
        out["fig14"] = Artifact("fig14", "RLHF algorithms compared (MA curves)", "tradeoff",
                                (("MA", tuple(ma(a, f"{a.upper()} (MA)") for a in algorithms)),))
        if Ks:
            out["fig16"] = Artifact("fig16", "HMA vs MA for each RLHF algorithm", "tradeoff",
                                    tuple((a.upper(), hma_vs_ma(a)) for a in algorithms))
    if public:
        first = public[0]
        out["fig6"] = Artifact("fig6", f"{first} judged by PairRM", "tradeoff",
                               (("averaging different blocks", partwise(first)),
                                ("HMA vs MA", hma_vs_ma(first))),
                               x="pairrm_win_rate", needs=("pairrm",))
        out["table1"] = Artifact("table1", "GPT-4 judged AlpacaEval win rate and NLP scores",
                                 "table", tuple((p, (
                                     Series("theta", p, _method("plain", alpha=0.0)),
                                     Series("HMA (alpha 0.2)", p,
                                            _alpha_in(0.2, 0.2, _hma(3 if 3 in Ks else None))))
                                 ) for p in public), needs=("gpt4_judge",))
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


# --------------------------------------------------------------------------- drawing


def draw(artifact: Artifact, tables: dict[str, pd.DataFrame], out_pdf: str, out_png: str,
         *, caption: str, style: dict | None = None) -> dict:
    """Draw one artifact to PDF and PNG; returns a summary of what was drawn."""
    style = style or {}
    plt.rcParams.update({"font.size": style.get("font_size", 9)})
    drawer = {"tradeoff": _draw_tradeoff, "per_benchmark": _draw_per_benchmark,
              "training_curve": _draw_training_curve, "table": _draw_table}[artifact.kind]
    fig, summary = drawer(artifact, tables, style)
    fig.suptitle(f"{artifact.name}: {artifact.title}", fontsize=style.get("font_size", 9) + 2)
    fig.text(0.01, 0.005, caption, fontsize=max(6, style.get("font_size", 9) - 2), va="bottom",
             wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    for path, fmt in ((out_pdf, "pdf"), (out_png, "png")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=style.get("dpi", 150))
    plt.close(fig)
    return summary


def _x_label(x: str) -> str:
    return {"reward": "alignment reward (reward model, held-out prompts)",
            "pairrm_win_rate": "PairRM win rate vs GPT-4 references"}.get(x, x)


def _seed_error_bars(ax, pts: pd.DataFrame, x: str, y: str, color: str) -> None:
    """Standard errors over replicate seeds (tables averaged by alignment_tax.replicates,
    which carry n_seeds) as error bars on both axes; one-seed tables draw none."""
    if "n_seeds" not in pts.columns or not (pts["n_seeds"] > 1).any():
        return
    errors = {}
    for axis, column in (("xerr", x), ("yerr", y)):
        if f"{column}_stderr" in pts.columns:
            errors[axis] = np.nan_to_num(pts[f"{column}_stderr"].to_numpy(dtype=float))
    ax.errorbar(pts[x], pts[y], fmt="none", ecolor=color, elinewidth=0.7, capsize=1.5,
                alpha=0.7, **errors)


def _draw_tradeoff(artifact: Artifact, tables, style):
    nrows, ncols = len(artifact.rows), len(artifact.categories)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows + 0.6),
                             squeeze=False)
    summary = {"points": 0, "series": {}}
    for r, (row_title, series_list) in enumerate(artifact.rows):
        for c, category in enumerate(artifact.categories):
            ax = axes[r][c]
            df = tables[category]
            drawn = []
            for i, series in enumerate(series_list):
                pts = series_points(df, series, artifact.x, category)
                if pts.empty:
                    continue
                ax.plot(pts[artifact.x], pts[category], marker="o", ms=3.5, lw=1.2,
                        color=f"C{i}", label=series.label)
                _seed_error_bars(ax, pts, artifact.x, category, color=f"C{i}")
                drawn.append(pts[[artifact.x, category]].to_numpy())
                summary["series"][f"{row_title}/{series.label}/{category}"] = len(pts)
                summary["points"] += len(pts)
            if drawn:
                allpts = np.concatenate(drawn)
                front = allpts[pareto_front(allpts)]
                ax.plot(front[:, 0], front[:, 1], ls="--", color="grey", lw=0.8, zorder=0,
                        label="Pareto front")
                ax.scatter(front[:, 0], front[:, 1], s=40, facecolors="none",
                           edgecolors="black", lw=0.7, zorder=3)
            else:
                ax.text(0.5, 0.5, "no data in this run", ha="center", va="center",
                        transform=ax.transAxes, color="grey")
            ax.set_title(f"{row_title}: {category.replace('_', ' ')}")
            ax.set_xlabel(_x_label(artifact.x))
            ax.set_ylabel(CATEGORY_LABELS[category])
            ax.grid(alpha=0.3)
            if drawn and c == ncols - 1:
                ax.legend(fontsize=6, loc="best")
    fig.text(0.99, 0.995, ALPHA_NOTE, ha="right", va="top", fontsize=6)
    return fig, summary


def _draw_per_benchmark(artifact: Artifact, tables, style):
    _, series_list = artifact.rows[0]
    fig, axes = plt.subplots(1, len(artifact.categories),
                             figsize=(4.2 * len(artifact.categories), 3.6), squeeze=False)
    summary = {"points": 0, "series": {}}
    for c, category in enumerate(artifact.categories):
        ax = axes[0][c]
        df = tables[category]
        tasks = [col for col in df.columns if _is_task_column(df, col, category)]
        width = 0.8 / max(1, len(series_list))
        for i, series in enumerate(series_list):
            pts = series_points(df, series, "variant", category)
            if pts.empty or not tasks:
                continue
            row = pts.iloc[0]
            stderr = [row.get(f"{t}_stderr", np.nan) for t in tasks]
            ax.bar(np.arange(len(tasks)) + i * width, [row[t] for t in tasks], width,
                   yerr=np.nan_to_num(np.asarray(stderr, dtype=float)), capsize=2,
                   label=f"{series.label} (reward {row.get('reward', np.nan):.3g})")
            summary["points"] += len(tasks)
        ax.set_xticks(np.arange(len(tasks)) + 0.4 - width / 2, tasks, rotation=30, ha="right",
                      fontsize=6)
        ax.set_title(category.replace("_", " "))
        ax.set_ylabel(CATEGORY_LABELS[category])
        low, high = ax.get_ylim()
        ax.set_ylim(low, high + 0.3 * (high - low))  # headroom: the legend must not hide bars
        ax.legend(fontsize=6, loc="upper left")
    fig.text(0.99, 0.995, ALPHA_NOTE, ha="right", va="top", fontsize=6)
    return fig, summary


def _is_task_column(df: pd.DataFrame, col: str, category: str) -> bool:
    meta = {"variant", "run", "model", "algorithm", "method", "alpha", "part", "pattern",
            "part_ratios", "K", "hyper", "pair", "hyper_value", "iteration", category}
    return (col not in meta and not col.endswith("_stderr") and not col.startswith("reward")
            and not col.startswith(("true_reward", "length_", "pairrm", "gpt4"))
            and pd.api.types.is_numeric_dtype(df[col]))


def _draw_training_curve(artifact: Artifact, tables, style):
    _, (series,) = artifact.rows[0]
    names = ("reward",) + tuple(artifact.categories)
    fig, axes = plt.subplots(1, len(names), figsize=(3.3 * len(names), 3.6), squeeze=False)
    summary = {"points": 0, "series": {}}
    for c, name in enumerate(names):
        ax = axes[0][c]
        df = tables[artifact.categories[0] if name == "reward" else name]
        pts = series_points(df, series, series.order_by, name)
        if not pts.empty:
            ax.plot(pts[series.order_by], pts[name], marker="o")
            _seed_error_bars(ax, pts, series.order_by, name, color="C0")
            ax.set_xticks(pts[series.order_by].astype(int).unique())
            summary["points"] += len(pts)
        ax.set_title("alignment reward" if name == "reward" else name.replace("_", " "))
        ax.set_xlabel("RSF iteration (0 = theta0)")
        ax.set_ylabel("reward model score (held-out)" if name == "reward"
                      else CATEGORY_LABELS[name])
        ax.grid(alpha=0.3)
    return fig, summary


def table1_frame(artifact: Artifact, tables) -> pd.DataFrame:
    rows = []
    for pair, series_list in artifact.rows:
        for series in series_list:
            row = {"pair": pair, "model": series.label}
            for category in BENCHMARK_CATEGORIES:
                pts = series_points(tables[category], series, "variant", category)
                row[category] = pts[category].iloc[0] if not pts.empty else np.nan
                # AlpacaEval 2.0 win rate and length-controlled win rate, percent
                for column, name in (("gpt4_win_rate", "win_rate"),
                                     ("gpt4_lc_win_rate", "lc_win_rate")):
                    if not pts.empty and column in pts:
                        row[name] = pts[column].iloc[0]
            rows.append(row)
    ours = pd.DataFrame(rows).assign(source="this run")
    paper = PAPER_TABLE1.assign(source="paper (Lin et al., 2024, table 1)")
    return pd.concat([ours, paper], ignore_index=True)


def _draw_table(artifact: Artifact, tables, style):
    frame = table1_frame(artifact, tables)
    fig, ax = plt.subplots(figsize=(9, 0.5 + 0.35 * len(frame)))
    ax.axis("off")
    cells = frame.round(2).astype(str).replace("nan", "-")
    ax.table(cellText=cells.values, colLabels=list(cells.columns), loc="center")
    return fig, {"points": int(frame.drop(columns=["pair", "model", "source"]).notna().sum().sum())}


def write_table1_csv(artifact: Artifact, tables, path: str) -> None:
    with atomic_path(path) as tmp:
        table1_frame(artifact, tables).to_csv(tmp, index=False)


def write_summary(path: str | Path, summary: dict) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
