"""The paper's qualitative claims, measured on a run's score tables.

Each trade-off figure lets a reader check a claim of the paper (``shared ARTIFACTS.md``):
MA's curve lies above the other remedies (fig3, fig7, fig8); averaging the input part
improves reward and NLP scores together (fig4, fig13); HMA lies above MA (fig5, fig16);
during RSF, Common Sense rises then falls while the other categories fall (fig12). On any
configuration these are hypotheses that the run tests, so this module measures them from
the same points the figures draw (``alignment_tax.figures`` series), and says per
(figure, row, method, category) whether the run supports the claim, contradicts it or
cannot tell them apart from noise.

The measure of "above MA": a point's score minus MA's at the same reward, MA's being the
linear interpolation of the Pareto front of MA's points (its curve with theta and theta0).
A point with more reward than every MA point is compared with MA's highest-reward point
when it also scores at least as well (it dominates MA there); one with less reward than
every MA point only when it scores no better (it is dominated); otherwise it is not
comparable and left out. A method's margin is the mean over its comparable points. The
verdict is "supported" or "contradicted" when the margin exceeds two standard errors of
those points' scores (their mean SE), else "within noise": a guide, not a significance
test (the points of a curve share a model and are not independent).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from alignment_tax.figures import Artifact, Series, series_points
from alignment_tax.io import atomic_path
from alignment_tax.tables import pareto_front

NOISE_SE = 2.0  # margins within this many standard errors of a score are "within noise"
COLUMNS = ("claim", "figure", "row", "method", "category", "expected", "n_points",
           "n_as_expected", "mean_margin", "score_stderr", "verdict")


@dataclass(frozen=True)
class Claim:
    """Series of ``figures`` whose labels start with ``methods`` (all but the reference when
    empty) are expected to lie ``expected`` ("above" / "below") the ``reference`` series."""

    name: str
    figures: tuple[str, ...]
    reference: tuple[str, ...]  # labels of the MA series (the first one a row has is used)
    expected: str
    methods: tuple[str, ...] = ()


CLAIMS = (
    Claim("MA above the other remedies", ("fig3", "fig7", "fig8"), ("MA",), "below"),
    Claim("input-part averaging above MA", ("fig4", "fig13"), ("whole model (MA)",), "above",
          ("input part",)),
    Claim("HMA above MA", ("fig5", "fig16"), ("MA",), "above", ("HMA",)),
)


def ma_margin(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Score minus MA's score at the same reward, per point (NaN where not comparable).

    ``points`` and ``reference``: arrays (n, 2) of (reward, score)."""
    front = reference[pareto_front(reference)]
    out = np.full(len(points), np.nan)
    if len(front) == 0:
        return out
    xs, ys = front[:, 0], front[:, 1]
    for i, (x, y) in enumerate(points):
        if np.isnan(x) or np.isnan(y):
            continue
        if x > xs[-1]:
            out[i] = y - ys[-1] if y >= ys[-1] else np.nan
        elif x < xs[0]:
            out[i] = y - ys[0] if y <= ys[0] else np.nan
        else:
            out[i] = y - np.interp(x, xs, ys)
    return out


def _sign(expected: str) -> float:
    """+1 when the claim expects margins above MA, -1 when below."""
    return 1.0 if expected == "above" else -1.0


def _verdict(margin: float, stderr: float, expected: str) -> str:
    if math.isnan(margin):
        return "no comparable points"
    if not math.isnan(stderr) and abs(margin) <= NOISE_SE * stderr:
        return "within noise"
    return "supported" if _sign(expected) * margin > 0 else "contradicted"


def _stderr_column(df: pd.DataFrame, category: str) -> str | None:
    column = f"{category}_stderr"
    return column if column in df.columns else None


def tradeoff_claims(claim: Claim, artifact: Artifact, tables: dict[str, pd.DataFrame]
                    ) -> list[dict]:
    rows = []
    for row_title, series_list in artifact.rows:
        reference = next((s for s in series_list if s.label in claim.reference), None)
        if reference is None:
            continue
        tested = [s for s in series_list if s is not reference and (
            not claim.methods or s.label.startswith(claim.methods))]
        for category in artifact.categories:
            df = tables[category]
            ref = series_points(df, reference, artifact.x, category)
            ref_xy = ref[[artifact.x, category]].to_numpy(dtype=float)
            for series in tested:
                pts = series_points(df, series, artifact.x, category)
                # the plain models end every curve: they are not the method's own points
                pts = pts[pts["method"] != "plain"]
                if len(pts):  # a series without points in this run is not drawn either
                    rows.append(_compare(claim, artifact, row_title, series, category, pts,
                                         ref_xy))
    return rows


def _compare(claim: Claim, artifact: Artifact, row_title: str, series: Series, category: str,
             pts: pd.DataFrame, ref_xy: np.ndarray) -> dict:
    margins = ma_margin(pts[[artifact.x, category]].to_numpy(dtype=float), ref_xy)
    comparable = ~np.isnan(margins)
    stderr_col = _stderr_column(pts, category)
    stderr = (float(np.nanmean(pts[stderr_col].to_numpy(dtype=float)[comparable]))
              if stderr_col and comparable.any() else math.nan)
    mean = float(np.mean(margins[comparable])) if comparable.any() else math.nan
    return {
        "claim": claim.name,
        "figure": artifact.name,
        "row": row_title,
        "method": series.label,
        "category": category,
        "expected": f"{claim.expected} MA",
        "n_points": int(comparable.sum()),
        "n_as_expected": int((_sign(claim.expected) * margins[comparable] > 0).sum()),
        "mean_margin": mean,
        "score_stderr": stderr,
        "verdict": _verdict(mean, stderr, claim.expected),
    }


def rsf_trajectory_claims(artifact: Artifact, tables: dict[str, pd.DataFrame]) -> list[dict]:
    """fig12: Common Sense rises then falls over the RSF iterations; the others fall.

    Margins (positive = as claimed): for Common Sense the smaller of the rise from
    iteration 0 to the best intermediate iteration and the fall from there to the last;
    for the others the fall from the first iteration to the last."""
    (_, (series,)), = artifact.rows
    rows = []
    for category in artifact.categories:
        pts = series_points(tables[category], series, series.order_by, category)
        scores = pts[category].to_numpy(dtype=float)
        stderr_col = _stderr_column(pts, category)
        stderr = float(np.nanmean(pts[stderr_col])) if stderr_col and len(pts) else math.nan
        rises_first = category == "common_sense"
        if len(scores) < (3 if rises_first else 2):
            margin = math.nan
        elif rises_first:
            peak = scores[1:-1].max()
            margin = float(min(peak - scores[0], peak - scores[-1]))
        else:
            margin = float(scores[0] - scores[-1])
        rows.append({
            "claim": "RSF trajectory", "figure": artifact.name, "row": "RSF",
            "method": series.label, "category": category,
            "expected": "rises, then falls" if rises_first else "falls",
            "n_points": len(scores), "n_as_expected": int(margin > 0),
            "mean_margin": margin, "score_stderr": stderr,
            "verdict": _verdict(margin, stderr, "above"),
        })
    return rows


def paper_claims(artifacts: dict[str, Artifact], tables: dict[str, pd.DataFrame],
                 names: Iterable[str]) -> pd.DataFrame:
    """Every claim the artifacts ``names`` (the buildable ones) let this run test."""
    names = set(names)
    rows = []
    for claim in CLAIMS:
        for figure in claim.figures:
            if figure in names:
                rows += tradeoff_claims(claim, artifacts[figure], tables)
    if "fig12" in names:
        rows += rsf_trajectory_claims(artifacts["fig12"], tables)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_claims(frame: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
