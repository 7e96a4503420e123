"""The paper's claims measured from score tables: the margin to MA's curve and the verdicts."""

import json

import numpy as np
import pandas as pd
import pytest
from alignment_tax.figures import artifacts, buildable_artifacts, load_wide_tables
from alignment_tax.paper_claims import COLUMNS, ma_margin, paper_claims
from conftest import load_config

CATS = ("common_sense", "reading", "translation")


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
    got = ma_margin(points, ma)
    want = [0.1, -0.1, 0.2, np.nan, np.nan, -0.1, np.nan]
    np.testing.assert_allclose(got, want, atol=1e-12)


def _tables(tmp_path, baseline_offset: float, input_offset: float, hma_offset: float,
            early_stopping_common_sense=None):
    """Wide tables of one RSF pair: every point on the line score = 1 - reward / 10 (reward
    0..10, theta0 at 0, theta at 10) plus its offset; the two early-stopping iterations
    (rewards 4 and 8) may take other Common Sense scores."""
    rows = [{"variant": "sft", "method": "plain", "alpha": 1.0, "reward": 0.0},
            {"variant": "rsf/theta", "method": "plain", "alpha": 0.0, "reward": 10.0}]
    for a in (0.2, 0.4, 0.6, 0.8):
        reward = 10 * (1 - a)
        rows.append({"variant": f"rsf/ma/alpha{a}", "method": "ma", "alpha": a,
                     "reward": reward})
        for part, offset in (("input", input_offset), ("middle", 0.0), ("output", 0.0)):
            rows.append({"variant": f"rsf/part_{part}/alpha{a}", "method": "partwise",
                         "alpha": a, "part": part, "reward": reward, "offset": offset})
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
    frame["offset"] = frame.get("offset", 0.0)
    frame["offset"] = frame["offset"].fillna(0.0)
    paths = {}
    for cat in CATS:
        df = frame.copy()
        df[cat] = 1 - df["reward"] / 10 + df["offset"]
        if cat == "common_sense" and early_stopping_common_sense:
            for it, value in enumerate(early_stopping_common_sense, start=1):
                df.loc[df["variant"] == f"rsf/early_stopping/iter{it}", cat] = value
        df[f"{cat}_stderr"] = 0.01
        paths[cat] = tmp_path / f"wide_{cat}.csv"
        df.drop(columns="offset").to_csv(paths[cat], index=False)
    return load_wide_tables({k: str(v) for k, v in paths.items()})


def _config():
    config = load_config("config")
    config["rlhf"]["algorithms"] = ["rsf"]
    config["rlhf"]["rsf"]["iterations"] = 3  # 0 = theta0, 1 and 2 early stopping, 3 = theta
    return config


def _verdicts(frame, claim, method=None):
    rows = frame[frame["claim"] == claim]
    if method:
        rows = rows[rows["method"] == method]
    return set(rows["verdict"])


def test_verdicts_follow_the_measured_margins(tmp_path):
    config = _config()
    tables = _tables(tmp_path, baseline_offset=-0.1, input_offset=0.1, hma_offset=0.0,
                     early_stopping_common_sense=(1.05, 0.5))  # rises above theta0, falls
    frame = paper_claims(artifacts(config), tables, buildable_artifacts(config))
    assert list(frame.columns) == list(COLUMNS)
    assert _verdicts(frame, "MA above the other remedies", "L2 penalty") == {"supported"}
    l2 = frame[(frame["method"] == "L2 penalty") & (frame["category"] == "reading")].iloc[0]
    assert l2["n_points"] == 2 and l2["n_as_expected"] == 2
    assert l2["mean_margin"] == pytest.approx(-0.1)
    assert _verdicts(frame, "input-part averaging above MA") == {"supported"}
    assert set(frame[frame["claim"] == "input-part averaging above MA"]["method"]) == {
        "input part"}
    assert _verdicts(frame, "HMA above MA") == {"within noise"}
    early = frame[frame["method"] == "early stopping"].set_index("category")["verdict"]
    assert early["reading"] == "within noise"  # on MA's line
    assert early["common_sense"] == "contradicted"  # above MA's line at both points
    trajectory = frame[frame["claim"] == "RSF trajectory"].set_index("category")
    assert trajectory.loc["common_sense", "verdict"] == "supported"  # 1.0, 1.05, .5, 0
    assert trajectory.loc["common_sense", "mean_margin"] == pytest.approx(0.05)
    assert trajectory.loc["reading", "verdict"] == "supported"  # falls
    assert trajectory.loc["reading", "n_points"] == 4


def test_contradicted_claims_are_reported_as_such(tmp_path):
    config = _config()
    tables = _tables(tmp_path, baseline_offset=0.1, input_offset=-0.1, hma_offset=-0.1)
    frame = paper_claims(artifacts(config), tables, buildable_artifacts(config))
    assert _verdicts(frame, "MA above the other remedies", "L2 penalty") == {"contradicted"}
    assert _verdicts(frame, "input-part averaging above MA") == {"contradicted"}
    assert _verdicts(frame, "HMA above MA") == {"contradicted"}
    trajectory = frame[frame["claim"] == "RSF trajectory"].set_index("category")
    assert trajectory.loc["common_sense", "verdict"] == "contradicted"  # falls throughout
    assert trajectory.loc["reading", "verdict"] == "supported"


def test_only_buildable_artifacts_are_tested(tmp_path):
    config = _config()
    tables = _tables(tmp_path, baseline_offset=-0.1, input_offset=0.1, hma_offset=0.0)
    frame = paper_claims(artifacts(config), tables, ["fig4"])
    assert set(frame["figure"]) == {"fig4"}
    assert paper_claims(artifacts(config), tables, []).empty
