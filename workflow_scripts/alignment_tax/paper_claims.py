"""The paper's qualitative claims, measured on a run, with bootstrap confidence intervals.

The claims, as the paper states them (Lin et al., 2024):
- "the Pareto-front of model averaging supersedes nearly all other methods" (section 4;
  fig3; experience replay fig7 and PPO's KL penalty fig8 "the conclusions are similar"):
  each other remedy lies *below* MA's curve;
- "when we average the low-level layers, we observe a 'magical' improvement in both the NLP
  tasks and alignment rewards" (section 5; fig4, and fig13 for DPO and PPO): averaging the
  input part raises the reward *and* each NLP score *above theta*, the RLHF model;
- "HMA can consistently push forward the Pareto-front of the vanilla model averaging"
  (section 6; fig5, fig16): HMA lies *above* MA's curve;
- "as the RLHF proceeds, the reward begins to increase while the translation and reading
  comprehension ability continues to drop ... common sense increases first and then drops"
  (fig12).

Each claim becomes one margin per (figure, row, method, category): a point's score minus
MA's at the same reward (MA's curve: the linear interpolation of the Pareto front of MA's
points and theta, theta0; beyond its ends a point is compared only where it dominates or is
dominated, else left out), averaged over the method's points; for the input part the mean
gain over theta (reward, or the category's score) over the part's grid; for fig12 the
reward's rise from theta0 to the RSF model, the other categories' fall, and for Common
Sense the smaller of the mean intermediate iteration's lead over the first and the last
(a pre-set contrast: the maximum over iterations would be biased upwards by noise).

Uncertainty: a bootstrap over benchmark items and reward prompts. One draw resamples each
task's items and the reward prompts with replacement, with the same item indices for every
variant (all variants answer the same items) and every seed (replicates share the data);
with several replicate seeds it also resamples the seeds, so the interval holds the
variation between training runs. Each draw rebuilds both curves (MA's front included) from
the resampled scores and recomputes the margin, so the noise of MA's points, of the reward
on the x axis and of the front's construction all reach the interval. Interval: "basic"
(Hall's; default) or "percentile", at ``confidence``; the basic interval corrects the front's
upward bias to first order (a front drawn through noisy maxima sits above the true curve,
and a bootstrap front above the observed one by about as much). Verdict: supported when the
interval lies on the claimed side of 0, contradicted when on the other, else inconclusive;
not comparable when none of the method's points can be set against MA's curve; unknown
when per-item scores are missing.

scipy.stats.bootstrap resamples one set of independent observations; here items of several
tasks, the reward prompts and the seeds are resampled jointly and the statistic is a curve
comparison, so the draws are written out with numpy below.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from alignment_tax.artifact_catalogue import Artifact, Series, series_points
from alignment_tax.io import atomic_path, read_json
from alignment_tax.tables import pareto_front

COLUMNS = ("claim", "figure", "row", "method", "category", "expected", "n_points", "n_seeds",
           "margin", "ci_low", "ci_high", "interval", "verdict")
BLEU_STATS = ("sys_len", "ref_len", *(f"correct_{n}" for n in range(1, 5)),
              *(f"total_{n}" for n in range(1, 5)))


@dataclass(frozen=True)
class Claim:
    """Series of ``figures`` whose labels start with ``methods`` (all but the reference when
    empty) are expected to lie ``expected`` ("above" / "below") the ``reference``: MA's
    curve, or with ``versus_theta`` the RLHF model theta itself (reward and scores)."""

    name: str
    figures: tuple[str, ...]
    reference: tuple[str, ...]  # labels of the MA series (the first one a row has is used)
    expected: str
    methods: tuple[str, ...] = ()
    versus_theta: bool = False


CLAIMS = (
    Claim("MA above the other remedies", ("fig3", "fig7", "fig8"), ("MA",), "below"),
    Claim("input-part averaging improves reward and NLP scores over theta", ("fig4", "fig13"),
          ("whole model (MA)",), "above", ("input part",), versus_theta=True),
    Claim("HMA above MA", ("fig5", "fig16"), ("MA",), "above", ("HMA",)),
)


@dataclass(frozen=True)
class BootstrapSettings:
    samples: int = 1000
    confidence: float = 0.95
    interval: str = "basic"  # basic | percentile
    seed: int = 0

    @classmethod
    def from_config(cls, config: Mapping) -> BootstrapSettings:
        section = config.get("paper_claims") or {}
        return cls(samples=int(section.get("bootstrap_samples", 1000)),
                   confidence=float(section.get("confidence", 0.95)),
                   interval=section.get("interval", "basic"), seed=int(config["seed"]))

    def label(self) -> str:
        return f"{self.interval} {self.confidence:.0%}, B={self.samples}"


# --------------------------------------------------------------------------- item data


@dataclass
class SeedItems:
    """Per-item scores of one seed's chain: per category, task and variant an array of item
    values (accuracy, F1) or of BLEU statistics (n, 10); per variant the prompt rewards."""

    tasks: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)
    reward: dict[str, np.ndarray] = field(default_factory=dict)


def read_item_file(path: str | Path) -> dict[str, np.ndarray]:
    """task -> item values (n,) or BLEU statistics (n, 10), items ordered by doc_id."""
    frame = pd.read_csv(path)
    missing = {"task", "doc_id", "metric", "value"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: per-item file lacks columns {sorted(missing)}")
    out = {}
    for task, rows in frame.groupby("task", sort=True):
        rows = rows.sort_values("doc_id", kind="stable")
        if (rows["metric"] == "bleu").all():
            out[task] = rows[list(BLEU_STATS)].to_numpy(dtype=float)
        else:
            out[task] = rows["value"].to_numpy(dtype=float)
    return out


def load_seed_items(eval_root: str | Path, variants: Iterable[str],
                    categories: Sequence[str]) -> SeedItems:
    """Read ``<eval_root>/<variant>/<category>.items.csv`` and the per-prompt rewards of
    ``<variant>/reward.json``; a variant without a file is left out (claims on it: unknown)."""
    root = Path(eval_root)
    items = SeedItems()
    for variant in variants:
        for category in categories:
            path = root / variant / f"{category}.items.csv"
            if path.exists():
                for task, values in read_item_file(path).items():
                    items.tasks.setdefault(category, {}).setdefault(task, {})[variant] = values
        path = root / variant / "reward.json"
        if path.exists():
            samples = read_json(path).get("samples") or []
            if samples:
                items.reward[variant] = np.array([float(s["reward"]) for s in samples])
    return items


def bleu_from_stats(stats: np.ndarray) -> float:
    """Corpus BLEU from summed sacreBLEU statistics, as lm-eval's ``bleu`` computes it
    (sacrebleu's default exponential smoothing)."""
    from sacrebleu.metrics.bleu import BLEU

    stats = np.asarray(stats)
    return float(BLEU.compute_bleu(
        correct=[int(round(c)) for c in stats[2:6]], total=[int(round(t)) for t in stats[6:10]],
        sys_len=int(round(stats[0])), ref_len=int(round(stats[1])), smooth_method="exp").score)


def bleu_from_stats_many(stats: np.ndarray) -> np.ndarray:
    """``bleu_from_stats`` for an array (..., 10) of summed statistics at once.

    sacrebleu scores one corpus per call (~10 us in Python); the bootstrap needs one score
    per variant and draw (75 x 1000 in the toy run), so sacrebleu's ``compute_bleu`` with
    exponential smoothing is restated here over arrays (checked equal to it in the tests).
    """
    stats = np.asarray(stats, dtype=float)
    sys_len, ref_len = stats[..., 0], stats[..., 1]
    correct, total = stats[..., 2:6], stats[..., 6:10]
    with np.errstate(divide="ignore", invalid="ignore"):
        brevity = np.where(sys_len < ref_len,
                           np.where(sys_len > 0, np.exp(1 - ref_len / sys_len), 0.0), 1.0)
        # "exp" smoothing: the k-th n-gram order without a match gets 1 / (2^k * total)
        halvings = 2.0 ** np.cumsum(correct == 0, axis=-1)
        precision = np.where(correct == 0, 100.0 / (halvings * total), 100.0 * correct / total)
        score = brevity * np.exp(np.log(precision).sum(axis=-1) / 4)
    # no match at all, or an order without n-grams (sacrebleu's precision 0): BLEU 0
    return np.where((correct == 0).all(-1) | (total == 0).any(-1), 0.0, score)


class Resampler:
    """Bootstrap draws of every variant's reward and category scores, per seed.

    One draw: multinomial counts over each task's items and over the reward prompts, the
    same counts for every variant and seed; with several seeds, a resample of the seeds."""

    def __init__(self, seeds: Sequence[SeedItems], settings: BootstrapSettings):
        self.seeds = list(seeds)
        self.settings = settings
        rng = np.random.default_rng(settings.seed)
        B = settings.samples
        self.weights: dict[tuple[str, str], np.ndarray] = {}
        sizes = {}
        for seed_items in self.seeds:
            for category, tasks in seed_items.tasks.items():
                for task, per_variant in tasks.items():
                    for variant, values in per_variant.items():
                        sizes.setdefault((category, task), {})[variant] = len(values)
            for variant, values in seed_items.reward.items():
                sizes.setdefault(("reward", "reward"), {})[variant] = len(values)
        for key in sorted(sizes):
            n_items = set(sizes[key].values())
            if len(n_items) != 1:
                raise ValueError(f"per-item scores of {key[1]} differ in item count between "
                                 f"variants ({sorted(n_items)}): the evaluations are not of "
                                 "the same items")
            n = n_items.pop()
            self.weights[key] = rng.multinomial(n, np.full(n, 1.0 / n), size=B) / n
        S = len(self.seeds)
        self.seed_draws = (rng.integers(0, S, size=(B, S)) if S > 1
                           else np.zeros((B, 1), dtype=int))
        self._cache: dict[tuple[int, str, str], tuple[float, np.ndarray] | None] = {}

    def score(self, seed: int, variant: str, column: str) -> tuple[float, np.ndarray] | None:
        """(full-data value, draws (B,)) of a variant's ``column`` (reward or a category) in
        one seed's chain, or None when its per-item scores are missing."""
        key = (seed, variant, column)
        if key not in self._cache:
            self._cache[key] = self._score(self.seeds[seed], variant, column)
        return self._cache[key]

    def _score(self, items: SeedItems, variant: str, column: str):
        if column == "reward":
            values = items.reward.get(variant)
            if values is None:
                return None
            return float(values.mean()), self.weights[("reward", "reward")] @ values
        tasks = items.tasks.get(column)
        if not tasks or any(variant not in per_variant for per_variant in tasks.values()):
            return None
        points, draws = [], []
        for task in sorted(tasks):
            values = tasks[task][variant]
            weights = self.weights[(column, task)]
            if values.ndim == 2:  # BLEU: corpus statistics add up over items
                n = len(values)
                points.append(bleu_from_stats(values.sum(axis=0)))
                draws.append(bleu_from_stats_many((weights * n) @ values))
            else:
                points.append(float(values.mean()))
                draws.append(weights @ values)
        # the category score is the unweighted mean of its tasks (alignment_tax.metrics)
        return float(np.mean(points)), np.mean(draws, axis=0)


# --------------------------------------------------------------------------- margins


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


def ma_margin_draws(px: np.ndarray, py: np.ndarray, rx: np.ndarray, ry: np.ndarray
                    ) -> np.ndarray:
    """``ma_margin`` for many draws at once: px, py (B, P) points, rx, ry (B, R) MA's
    points; returns (B, P). Each draw builds its own Pareto front of MA's points."""
    valid = ~(np.isnan(rx) | np.isnan(ry))
    xi, yi = rx[:, :, None], ry[:, :, None]  # point i
    xj, yj = rx[:, None, :], ry[:, None, :]  # point j
    dominated = (valid[:, None, :] & (xj >= xi) & (yj >= yi) & ((xj > xi) | (yj > yi))).any(-1)
    front = valid & ~dominated  # (B, R)
    inf = np.inf
    q = px[:, :, None]  # (B, P, 1)
    fx = rx[:, None, :]
    on = front[:, None, :]
    left_x = np.where(on & (fx <= q), fx, -inf)
    right_x = np.where(on & (fx >= q), fx, inf)
    left = left_x.argmax(-1)
    right = right_x.argmin(-1)
    has_left = np.isfinite(np.take_along_axis(left_x, left[..., None], -1)[..., 0])
    has_right = np.isfinite(np.take_along_axis(right_x, right[..., None], -1)[..., 0])
    xl = np.take_along_axis(rx, left, 1)
    yl = np.take_along_axis(ry, left, 1)
    xr = np.take_along_axis(rx, right, 1)
    yr = np.take_along_axis(ry, right, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(xr > xl, (px - xl) / (xr - xl), 0.0)
    inside = py - (yl + frac * (yr - yl))
    out = np.where(has_left & has_right, inside, np.nan)
    beyond = has_left & ~has_right  # more reward than the front's end: compare if dominating
    out = np.where(beyond & (py >= yl), py - yl, out)
    below = has_right & ~has_left  # less reward than the front's start: if dominated
    out = np.where(below & (py <= yr), py - yr, out)
    out[np.isnan(px) | np.isnan(py) | ~front.any(-1)[:, None]] = np.nan
    return out


def _sign(expected: str) -> float:
    """+1 when the claim expects positive margins ("above ...", "rises ..."), -1 when
    negative ("below ...", "falls")."""
    return 1.0 if expected.split()[0].rstrip(",") in ("above", "rises") else -1.0


def _nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN
        return np.nanmean(values, axis=axis)


def summarize(point: float, draws: np.ndarray, expected: str, settings: BootstrapSettings
              ) -> tuple[float, float, str]:
    """(ci_low, ci_high, verdict) from the full-data margin and its bootstrap draws."""
    if point is None or math.isnan(point):  # scores present, no point comparable with MA
        return math.nan, math.nan, "not comparable"
    defined = draws[~np.isnan(draws)]
    if len(defined) < settings.confidence * len(draws):
        # the method's points are comparable with MA's curve in too few draws to tell
        return math.nan, math.nan, "inconclusive"
    tail = (1 - settings.confidence) / 2
    q_low, q_high = np.quantile(defined, [tail, 1 - tail])
    if settings.interval == "basic":
        low, high = 2 * point - q_high, 2 * point - q_low
    else:
        low, high = q_low, q_high
    sign = _sign(expected)
    if (low > 0 if sign > 0 else high < 0):
        verdict = "supported"
    elif (high < 0 if sign > 0 else low > 0):
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    return float(low), float(high), verdict


class _Seeds:
    """Per-seed margins (full data and draws) combined over the seeds: the mean over seeds,
    its draws the mean over each draw's resampled seeds."""

    def __init__(self, resampler: Resampler):
        self.resampler = resampler

    def combine(self, per_seed: list[tuple[float, np.ndarray] | None]):
        if any(m is None for m in per_seed) or not per_seed:
            return None, None
        points = np.array([m[0] for m in per_seed])
        draws = np.stack([m[1] for m in per_seed])  # (S, B)
        picked = draws[self.resampler.seed_draws.T, np.arange(draws.shape[1])]  # (S, B)
        return float(_nanmean(points, 0)), _nanmean(picked, 0)


def _values(resampler: Resampler, seed: int, variants: Sequence[str], column: str):
    """(points (P,), draws (B, P)) of ``column`` for ``variants``; None if any is missing."""
    scores = [resampler.score(seed, v, column) for v in variants]
    if any(s is None for s in scores):
        return None
    return (np.array([s[0] for s in scores]),
            np.stack([s[1] for s in scores], axis=1) if scores else None)


def _front_margin(resampler, seed, tested, reference, x, category):
    """Mean margin of ``tested`` variants to the front of ``reference`` ones, full data and
    per draw, in one seed; None when scores are missing."""
    got = [_values(resampler, seed, vs, col) for vs in (tested, reference) for col in (x, category)]
    if any(g is None for g in got):
        return None
    (px0, pxb), (py0, pyb), (rx0, rxb), (ry0, ryb) = got
    point = ma_margin_draws(px0[None], py0[None], rx0[None], ry0[None])[0]
    draws = ma_margin_draws(pxb, pyb, rxb, ryb)
    return float(_nanmean(point, 0)), _nanmean(draws, 1)


def _gain_over(resampler, seed, tested, base, column):
    """Mean of ``column`` over ``tested`` variants minus ``base``'s, full data and draws."""
    got = _values(resampler, seed, tested, column)
    ref = resampler.score(seed, base, column)
    if got is None or ref is None:
        return None
    return float(got[0].mean() - ref[0]), got[1].mean(axis=1) - ref[1]


# --------------------------------------------------------------------------- claims


def _row(claim, figure, row, method, category, expected, n_points, n_seeds, point, draws,
         settings):
    low, high, verdict = summarize(point, draws, expected, settings) if draws is not None \
        else (math.nan, math.nan, "unknown")
    return {"claim": claim, "figure": figure, "row": row, "method": method,
            "category": category, "expected": expected, "n_points": n_points, "n_seeds": n_seeds,
            "margin": math.nan if point is None else point, "ci_low": low, "ci_high": high,
            "interval": settings.label(), "verdict": verdict}


def tradeoff_claims(claim: Claim, artifact: Artifact, tables: dict[str, pd.DataFrame],
                    resampler: Resampler) -> list[dict]:
    seeds = _Seeds(resampler)
    S = len(resampler.seeds)
    rows = []
    for row_title, series_list in artifact.rows:
        reference = next((s for s in series_list if s.label in claim.reference), None)
        if reference is None:
            continue
        tested = [s for s in series_list if s is not reference and (
            not claim.methods or s.label.startswith(claim.methods))]
        for series in tested:
            if claim.versus_theta:
                rows += _theta_claims(claim, artifact, row_title, series, tables, resampler)
                continue
            for category in artifact.categories:
                df = tables[category]
                ref = series_points(df, reference, artifact.x, category)
                pts = series_points(df, series, artifact.x, category)
                # the plain models end every curve: they are not the method's own points
                pts = pts[pts["method"] != "plain"]
                if not len(pts):  # a series without points in this run is not drawn either
                    continue
                point, draws = seeds.combine([
                    _front_margin(resampler, s, list(pts["variant"]), list(ref["variant"]),
                                  artifact.x, category) for s in range(S)])
                rows.append(_row(claim.name, artifact.name, row_title, series.label,
                                 category, f"{claim.expected} MA", len(pts), S, point, draws,
                                 resampler.settings))
    return rows


def _theta_claims(claim: Claim, artifact: Artifact, row_title: str, series: Series,
                  tables: dict[str, pd.DataFrame], resampler: Resampler) -> list[dict]:
    """Input-part averaging vs theta: the mean gain in reward and in each category over the
    part's grid (alpha strictly between 0 and 1), each with its own interval."""
    seeds = _Seeds(resampler)
    S = len(resampler.seeds)
    theta = f"{series.pair}/theta"
    rows = []
    for column in ("reward", *artifact.categories):
        df = tables[artifact.categories[0] if column == "reward" else column]
        pts = series_points(df, series, artifact.x, artifact.categories[0]
                            if column == "reward" else column)
        pts = pts[pts["method"] != "plain"]
        if not len(pts):
            continue
        point, draws = seeds.combine([
            _gain_over(resampler, s, list(pts["variant"]), theta, column) for s in range(S)])
        rows.append(_row(claim.name, artifact.name, row_title, series.label, column,
                         "above theta", len(pts), S, point, draws, resampler.settings))
    return rows


def rsf_trajectory_claims(artifact: Artifact, tables: dict[str, pd.DataFrame],
                          resampler: Resampler) -> list[dict]:
    """fig12: the reward rises from theta0 (iteration 0) to the RSF model (the last),
    Reading and Translation fall, Common Sense rises then falls: the mean of the
    intermediate iterations lies above both the first and the last (the smaller lead)."""
    (_, (series,)), = artifact.rows
    seeds = _Seeds(resampler)
    S = len(resampler.seeds)
    rows = []
    for column in ("reward", *artifact.categories):
        df = tables[artifact.categories[0] if column == "reward" else column]
        pts = series_points(df, series, series.order_by, column)
        variants = list(pts["variant"])
        rises_first = column == "common_sense"
        expected = ("rises, then falls" if rises_first else
                    "rises" if column == "reward" else "falls")
        per_seed = []
        for s in range(S):
            got = _values(resampler, s, variants, column) if variants else None
            if got is None or len(variants) < (3 if rises_first else 2):
                per_seed.append(None)
                continue
            full, draws = got[0][None], got[1]
            both = np.concatenate([full, draws])  # row 0: the full data
            if rises_first:
                middle = both[:, 1:-1].mean(axis=1)
                margin = np.minimum(middle - both[:, 0], middle - both[:, -1])
            else:
                margin = both[:, -1] - both[:, 0]
            per_seed.append((float(margin[0]), margin[1:]))
        point, draws = seeds.combine(per_seed)
        rows.append(_row("RSF trajectory", artifact.name, "RSF", series.label, column,
                         expected, len(variants), S, point, draws, resampler.settings))
    return rows


def paper_claims(artifacts: dict[str, Artifact], tables: dict[str, pd.DataFrame],
                 names: Iterable[str], seeds: Sequence[SeedItems] = (),
                 settings: BootstrapSettings | None = None) -> pd.DataFrame:
    """Every claim the artifacts ``names`` (the buildable ones) let this run test.

    ``tables``: the wide tables (which variants each curve holds); ``seeds``: the per-item
    scores of each replicate seed's chain (none: every verdict is "unknown")."""
    settings = settings or BootstrapSettings()
    resampler = Resampler(list(seeds) or [SeedItems()], settings)
    names = set(names)
    rows = []
    for claim in CLAIMS:
        for figure in claim.figures:
            if figure in names:
                rows += tradeoff_claims(claim, artifacts[figure], tables, resampler)
    if "fig12" in names:
        rows += rsf_trajectory_claims(artifacts["fig12"], tables, resampler)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_claims(frame: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)

