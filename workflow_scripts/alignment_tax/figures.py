"""The paper's figures and table 1, drawn from the score tables only.

What each artifact shows (its panels, series and the points each series selects from the
wide per-category tables of ``alignment_tax.tables``) is the catalogue in
``alignment_tax.artifact_catalogue``; this module only draws it: no number is typed in
here. A figure is drawn on one panel per benchmark category, x = alignment reward, y = the
category score, with the Pareto front of all drawn points marked. Merge convention on every
axis: merged = alpha * theta0 + (1 - alpha) * theta (alpha = weight on the SFT model theta0).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on clusters or CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from alignment_tax.artifact_catalogue import Artifact, series_points  # noqa: E402
from alignment_tax.io import atomic_path  # noqa: E402
from alignment_tax.tables import BENCHMARK_CATEGORIES, pareto_front  # noqa: E402

CATEGORY_LABELS = {
    "common_sense": "Common Sense (mean accuracy)",
    "reading": "Reading Comprehension (mean F1)",
    "translation": "Translation (BLEU)",
}
ALPHA_NOTE = "alpha = weight on theta0 (SFT): merged = alpha*theta0 + (1-alpha)*theta"

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
                color = series.color or f"C{i}"
                ax.plot(pts[artifact.x], pts[category], marker=series.marker, ms=3.5, lw=1.2,
                        ls=series.linestyle, color=color, label=series.label)
                _seed_error_bars(ax, pts, artifact.x, category, color=color)
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
