"""The paper's claims measured with a bootstrap over items, prompts and seeds: margins to MA's
curve, the intervals and the verdicts, on synthetic tables and per-item scores."""

import json

import numpy as np
import pandas as pd
import pytest
from alignment_tax.artifact_catalogue import artifacts, buildable_artifacts, load_wide_tables
from alignment_tax.paper_claims import (
    COLUMNS,
    BootstrapSettings,
    SeedItems,
    bleu_from_stats,
    bleu_from_stats_many,
    load_seed_items,
    ma_margin,
    ma_margin_draws,
    paper_claims,
)
from conftest import load_config

CATS = ("common_sense", "reading", "translation")
N_ITEMS = 200
FAST = BootstrapSettings(samples=400, confidence=0.95, interval="basic", seed=0)


def test_ma_margin_interpolates_the_front_and_handles_the_ends():
    ma = np.array([[1.0, 0.9], [3.0, 0.5], [5.0, 0.1], [4.0, 0.05]])  # (4, .05) is dominated
    points = np.array([
        [2.0, 0.8],   # MA at reward 2: 0.7 -> +0.1
        [4.0, 0.2],   # MA front at 4: interpolated 0.3 -> -0.1
        [6.0, 0.3],   # more reward than any MA point and a better score: dominates (+0.2)
        [6.0, 0.0],   # more reward, worse score: not comparable
        [0.5, 0.95],  # less reward, better score: not comparable
        [0.5, 0.8],   # less reward, worse score: dominated (-0.1)
        [np.nan, 0.5],
    ])
    want = [0.1, -0.1, 0.2, np.nan, np.nan, -0.1, np.nan]
    np.testing.assert_allclose(ma_margin(points, ma), want, atol=1e-12)
    got = ma_margin_draws(points[None, :, 0], points[None, :, 1], ma[None, :, 0], ma[None, :, 1])
    np.testing.assert_allclose(got[0], want, atol=1e-12)


def test_vectorised_margins_agree_with_the_per_draw_front():
    rng = np.random.default_rng(3)
    B, P, R = 300, 5, 6
    px, py = rng.uniform(0, 10, (B, P)), rng.uniform(0, 1, (B, P))
    rx, ry = rng.uniform(0, 10, (B, R)), rng.uniform(0, 1, (B, R))
    rx[::7, 2] = np.nan
    got = ma_margin_draws(px, py, rx, ry)
    for b in range(B):
        want = ma_margin(np.c_[px[b], py[b]], np.c_[rx[b], ry[b]])
        np.testing.assert_allclose(got[b], want, atol=1e-12, err_msg=f"draw {b}")


def test_bleu_from_summed_item_statistics_is_lm_evals_corpus_bleu():
    from alignment_tax.benchmarks import bleu_item_stats
    from lm_eval.api.metrics import bleu

    items = [("the cat sits on the mat", "the cat sat on the mat"),
             ("a dog runs in the park today", "a dog runs in a park"),
             ("green birds eat small seeds", "birds eat seeds"),
             ("he reads", "he reads a long book about the sea")]
    stats = np.array([[bleu_item_stats(r, p)[k] for k in (
        "sys_len", "ref_len", *(f"correct_{n}" for n in range(1, 5)),
        *(f"total_{n}" for n in range(1, 5)))] for r, p in items], dtype=float)
    assert bleu_from_stats(stats.sum(axis=0)) == pytest.approx(bleu(items), abs=1e-9)


def test_vectorised_bleu_is_sacrebleus():
    rng = np.random.default_rng(0)
    total = rng.integers(0, 30, (500, 4))
    total[:50, 3] = 0  # short corpora: no 4-grams
    correct = rng.binomial(total, rng.uniform(0, 0.6, (500, 1)))
    correct[50:100] = 0
    correct[100:150, 1:] = 0  # smoothing of unmatched orders
    sys_len = total[:, 0] + rng.integers(0, 3, 500)
    stats = np.c_[sys_len, sys_len + rng.integers(-5, 6, 500), correct, total].astype(float)
    stats[:10, 0] = 0
    want = [bleu_from_stats(s) for s in stats]
    np.testing.assert_allclose(bleu_from_stats_many(stats), want, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- synthetic run


def _frame(baseline_offset=0.0, input_offset=0.0, hma_offset=0.0, input_reward_gain=0.0,
           early_stopping_common_sense=None, stderr=0.01):
    """One RSF pair: every point on the line score = 1 - reward / 10 (theta0 at reward 0,
    theta at 10; 0 above 10) plus its offset; the input part at theta's reward plus
    ``input_reward_gain``; early stopping at rewards 4 and 8 may take other Common
    Sense scores. Returns one frame with a column per category."""
    rows = [{"variant": "sft", "method": "plain", "alpha": 1.0, "reward": 0.0},
            {"variant": "rsf/theta", "method": "plain", "alpha": 0.0, "reward": 10.0}]
    for a in (0.2, 0.4, 0.6, 0.8):
        reward = 10 * (1 - a)
        rows.append({"variant": f"rsf/ma/alpha{a}", "method": "ma", "alpha": a,
                     "reward": reward})
        for part, offset in (("input", input_offset), ("middle", 0.0), ("output", 0.0)):
            # the input part keeps theta's reward (plus a gain), the other parts MA's
            part_reward = 10 + input_reward_gain if part == "input" else reward
            rows.append({"variant": f"rsf/part_{part}/alpha{a}", "method": "partwise",
                         "alpha": a, "part": part, "reward": part_reward, "offset": offset})
        rows.append({"variant": f"rsf/hma/K3/lr0.05/alpha{a}", "method": "hma", "alpha": a,
                     "K": 3, "hyper": json.dumps({"default_lr": True}), "reward": reward,
                     "offset": hma_offset})
    for value in (0.01, 0.1):
        rows.append({"variant": f"rsf/l2/{value}", "method": "l2", "alpha": 0.0,
                     "hyper": json.dumps({"value": value}), "reward": 5 + 20 * value,
                     "offset": baseline_offset})
    for it in (1, 2):
        rows.append({"variant": f"rsf/early_stopping/iter{it}", "method": "early_stopping",
                     "alpha": 0.0, "hyper": json.dumps({"iteration": it}), "reward": 4.0 * it})
    frame = pd.DataFrame(rows)
    frame["offset"] = frame["offset"].fillna(0.0)
    for cat in CATS:
        frame[cat] = 1 - frame["reward"].clip(upper=10) / 10 + frame["offset"]
        if cat == "common_sense" and early_stopping_common_sense:
            for it, value in enumerate(early_stopping_common_sense, start=1):
                frame.loc[frame["variant"] == f"rsf/early_stopping/iter{it}", cat] = value
        if stderr is not None:
            frame[f"{cat}_stderr"] = stderr
    return frame


def _tables(tmp_path, frame):
    paths = {}
    for cat in CATS:
        keep = [c for c in frame.columns if c not in CATS or c == cat]
        paths[cat] = tmp_path / f"wide_{cat}.csv"
        frame[keep].drop(columns="offset").to_csv(paths[cat], index=False)
    return load_wide_tables({k: str(v) for k, v in paths.items()})


def _items(frame, noise=0.01, noisy=(), noisy_sd=0.0, seed=0, reward_noise=0.01):
    """Per-item scores whose means are exactly the frame's scores: item = score + sd * z,
    z standardised per variant (independent between variants). ``noisy``: variant prefixes
    whose items have sd ``noisy_sd`` instead of ``noise``."""
    rng = np.random.default_rng(seed)
    items = SeedItems()

    def draw(center, sd, n=N_ITEMS):
        z = rng.standard_normal(n)
        z = (z - z.mean()) / z.std()
        return center + sd * z

    for _, row in frame.iterrows():
        variant = row["variant"]
        sd = noisy_sd if variant.startswith(tuple(noisy)) else noise
        for cat in CATS:
            items.tasks.setdefault(cat, {}).setdefault("task", {})[variant] = draw(row[cat], sd)
        items.reward[variant] = draw(row["reward"], reward_noise * 10)
    return items


def _config():
    config = load_config("config")
    config["rlhf"]["algorithms"] = ["rsf"]
    config["rlhf"]["rsf"]["iterations"] = 3  # 0 = theta0, 1 and 2 early stopping, 3 = theta
    return config


def _claims(tables, seeds, settings=FAST, names=None):
    config = _config()
    names = buildable_artifacts(config) if names is None else names
    return paper_claims(artifacts(config), tables, names, seeds=seeds, settings=settings)


def _verdicts(frame, claim, method=None, category=None):
    rows = frame[frame["claim"].str.startswith(claim)]
    if method:
        rows = rows[rows["method"] == method]
    if category:
        rows = rows[rows["category"] == category]
    return set(rows["verdict"])


def test_clear_effects_are_supported_with_intervals(tmp_path):
    frame = _frame(baseline_offset=-0.1, input_offset=0.1, input_reward_gain=0.5,
                   early_stopping_common_sense=(1.1, 1.05))
    claims = _claims(_tables(tmp_path, frame), [_items(frame)])
    assert list(claims.columns) == list(COLUMNS)
    assert _verdicts(claims, "MA above the other remedies", "L2 penalty") == {"supported"}
    l2 = claims[(claims["method"] == "L2 penalty") & (claims["category"] == "reading")].iloc[0]
    assert l2["n_points"] == 2 and l2["margin"] == pytest.approx(-0.1)
    assert l2["ci_low"] < -0.1 < l2["ci_high"] < 0
    assert l2["interval"] == "basic 95%, B=400"
    # input part vs theta: reward and every category above theta
    input_rows = claims[claims["claim"].str.startswith("input-part")]
    assert set(input_rows["method"]) == {"input part"}
    assert set(input_rows["category"]) == {"reward", *CATS}
    assert set(input_rows["expected"]) == {"above theta"}
    assert set(input_rows["verdict"]) == {"supported"}
    reward_gain = input_rows[input_rows["category"] == "reward"]["margin"]
    assert reward_gain.iloc[0] == pytest.approx(0.5)
    trajectory = claims[claims["claim"] == "RSF trajectory"].set_index("category")
    assert trajectory.loc["common_sense", "verdict"] == "supported"  # 1.0, 1.1, 1.05, 0
    # the intermediate iterations' mean 1.075: above the first by .075, the last by 1.075
    assert trajectory.loc["common_sense", "margin"] == pytest.approx(0.075)
    assert trajectory.loc["reward", "verdict"] == "supported"  # rises
    assert trajectory.loc["reading", "verdict"] == "supported"  # falls
    assert trajectory.loc["reading", "n_points"] == 4


def test_rises_then_falls_is_a_contrast_not_a_maximum(tmp_path):
    frame = _frame(early_stopping_common_sense=(1.15, 0.75))  # peak 1.15, mean .95 < 1.0
    claims = _claims(_tables(tmp_path, frame), [_items(frame)])
    row = claims[(claims["claim"] == "RSF trajectory")
                 & (claims["category"] == "common_sense")].iloc[0]
    assert row["margin"] == pytest.approx(-0.05)
    assert row["verdict"] == "contradicted"


def test_contradicted_claims_are_reported_as_such(tmp_path):
    frame = _frame(baseline_offset=0.1, input_offset=-0.1, hma_offset=-0.1,
                   input_reward_gain=-0.5)
    claims = _claims(_tables(tmp_path, frame), [_items(frame)])
    assert _verdicts(claims, "MA above the other remedies", "L2 penalty") == {"contradicted"}
    assert _verdicts(claims, "input-part") == {"contradicted"}
    assert _verdicts(claims, "HMA above MA") == {"contradicted"}
    trajectory = claims[claims["claim"] == "RSF trajectory"].set_index("category")
    assert trajectory.loc["common_sense", "verdict"] == "contradicted"  # falls throughout
    assert trajectory.loc["reading", "verdict"] == "supported"


def test_mas_noise_reaches_the_interval(tmp_path):
    """HMA 0.03 above MA's line; the tables give HMA a standard error of 0.01, so two of
    the method's own standard errors (the old rule) call it supported. MA's own points
    are noisy (item sd 0.6: SE 0.04 per point) and its front is rebuilt in every draw:
    the interval includes 0."""
    frame = _frame(hma_offset=0.03)
    items = _items(frame, noise=0.01 * np.sqrt(N_ITEMS), noisy=("rsf/ma/",), noisy_sd=0.6)
    claims = _claims(_tables(tmp_path, frame), [items])
    hma = claims[(claims["claim"] == "HMA above MA") & (claims["figure"] == "fig5")
                 & (claims["row"] == "RSF")]
    assert (hma["margin"] > 2 * 0.01).all()  # the old rule: "supported"
    assert set(hma["verdict"]) == {"inconclusive"}
    assert ((hma["ci_low"] < 0) & (hma["ci_high"] > 0)).all()
    # the same margin with quiet MA points is supported
    quiet = _claims(_tables(tmp_path, frame), [_items(frame, noise=0.01 * np.sqrt(N_ITEMS))])
    quiet = quiet[(quiet["claim"] == "HMA above MA") & (quiet["figure"] == "fig5")
                  & (quiet["row"] == "RSF")]
    assert set(quiet["verdict"]) == {"supported"}


def test_noise_in_the_reward_reaches_the_interval(tmp_path):
    """L2 0.02 below MA's line with quiet scores, but a reward so noisy (SE 0.5 on a 0..10
    axis, MA's slope 0.1 per unit) that the point could lie anywhere along the curve."""
    frame = _frame(baseline_offset=-0.02)
    loud = _claims(_tables(tmp_path, frame), [_items(frame, noise=0.02, reward_noise=0.7)])
    quiet = _claims(_tables(tmp_path, frame), [_items(frame, noise=0.02, reward_noise=0.001)])
    pick = lambda f: f[(f["method"] == "L2 penalty")]  # noqa: E731
    assert set(pick(quiet)["verdict"]) == {"supported"}
    assert "inconclusive" in set(pick(loud)["verdict"])


def test_missing_data_gives_unknown_not_a_verdict(tmp_path):
    """No per-item scores and no standard errors: the old rule returned a decisive verdict."""
    frame = _frame(baseline_offset=-0.1, input_offset=0.1, stderr=None)
    claims = _claims(_tables(tmp_path, frame), [])
    assert not claims.empty
    assert set(claims["verdict"]) == {"unknown"}
    assert claims["ci_low"].isna().all()
    # one variant missing in the item data: only the claims that need it are unknown
    items = _items(frame)
    for per_variant in items.tasks["reading"].values():
        del per_variant["rsf/l2/0.1"]
    claims = _claims(_tables(tmp_path, frame), [items])
    l2 = claims[claims["method"] == "L2 penalty"].set_index("category")["verdict"]
    assert l2["reading"] == "unknown" and l2["common_sense"] == "supported"


def test_seeds_are_a_resampling_level(tmp_path):
    """Seed 1 puts L2 0.1 below MA, seed 2 0.1 above: each alone is decisive, together the
    mean margin is 0 and the seed resampling makes the interval span it."""
    below, above = _frame(baseline_offset=-0.1), _frame(baseline_offset=0.1)
    tables = _tables(tmp_path, below)
    one = _claims(tables, [_items(below)])
    two = _claims(tables, [_items(below, seed=1), _items(above, seed=2)])
    assert _verdicts(one, "MA above the other remedies", "L2 penalty") == {"supported"}
    l2 = two[two["method"] == "L2 penalty"]
    assert set(l2["n_seeds"]) == {2}
    assert l2["margin"].abs().max() < 1e-9
    assert set(l2["verdict"]) == {"inconclusive"}
    # three agreeing seeds stay supported
    three = _claims(tables, [_items(below, seed=s) for s in (1, 2, 3)])
    assert _verdicts(three, "MA above the other remedies", "L2 penalty") == {"supported"}


def test_bootstrap_is_seeded_and_percentile_differs_from_basic(tmp_path):
    frame = _frame(hma_offset=0.01)
    tables, items = _tables(tmp_path, frame), [_items(frame, noise=0.3)]
    first, again = _claims(tables, items), _claims(tables, items)
    pd.testing.assert_frame_equal(first, again)
    other = _claims(tables, items, BootstrapSettings(samples=400, interval="percentile"))
    assert (other["margin"] == first["margin"]).all()
    assert not np.allclose(other["ci_low"], first["ci_low"], equal_nan=True)


def test_item_files_are_read_per_variant(tmp_path):
    root = tmp_path / "eval"
    (root / "rsf/ma/alpha0.2").mkdir(parents=True)
    pd.DataFrame({"task": ["b", "a", "a"], "doc_id": [0, 1, 0], "metric": "acc",
                  "value": [1.0, 0.0, 1.0]}).to_csv(root / "rsf/ma/alpha0.2/common_sense.items.csv",
                                                      index=False)
    (root / "rsf/ma/alpha0.2/reward.json").write_text(json.dumps(
        {"reward": {"mean": 1.5}, "samples": [{"reward": 1.0}, {"reward": 2.0}]}))
    items = load_seed_items(root, ["rsf/ma/alpha0.2", "sft"], ["common_sense", "reading"])
    np.testing.assert_array_equal(items.tasks["common_sense"]["a"]["rsf/ma/alpha0.2"], [1, 0])
    np.testing.assert_array_equal(items.reward["rsf/ma/alpha0.2"], [1.0, 2.0])
    assert "sft" not in items.reward and "reading" not in items.tasks


def test_items_of_different_lengths_are_refused(tmp_path):
    frame = _frame()
    items = _items(frame)
    items.tasks["reading"]["task"]["sft"] = items.tasks["reading"]["task"]["sft"][:-1]
    with pytest.raises(ValueError, match="item count"):
        _claims(_tables(tmp_path, frame), [items])


def test_points_beside_mas_curve_are_not_comparable(tmp_path):
    """L2 points with more reward than all of MA's but a worse score than theta's."""
    frame = _frame()
    frame.loc[frame["method"] == "l2", "reward"] = 12.0
    for cat in CATS:
        frame.loc[frame["method"] == "l2", cat] = -0.5
    claims = _claims(_tables(tmp_path, frame), [_items(frame)])
    assert _verdicts(claims, "MA above the other remedies", "L2 penalty") == {"not comparable"}


def test_only_buildable_artifacts_are_tested(tmp_path):
    frame = _frame(baseline_offset=-0.1, input_offset=0.1)
    tables = _tables(tmp_path, frame)
    claims = _claims(tables, [_items(frame)], names=["fig4"])
    assert set(claims["figure"]) == {"fig4"}
    assert _claims(tables, [_items(frame)], names=[]).empty
