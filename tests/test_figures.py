"""Figures draw from score tables alone; every artifact of each config draws or is skipped."""

import json

import numpy as np
import pandas as pd
import pytest
from alignment_tax.artifact_catalogue import (
    artifacts,
    buildable_artifacts,
    load_wide_tables,
    series_points,
    skipped_artifacts,
)
from alignment_tax.figures import draw, table1_frame
from conftest import load_config

CATS = ["common_sense", "reading", "translation"]


def synthetic_wide_tables(tmp_path, pairs=("rsf", "dpo", "ppo")):
    """Wide tables shaped like alignment_tax.tables.wide_table output."""
    rng = np.random.default_rng(0)
    rows = [{"variant": "sft", "method": "plain", "alpha": 1.0, "hyper": None}]
    for pair in pairs:
        rows.append({"variant": f"{pair}/theta", "method": "plain", "alpha": 0.0, "hyper": None})
        for a in (0.0, 0.2, 0.5, 1.0):
            rows.append({"variant": f"{pair}/ma/alpha{a:g}", "method": "ma", "alpha": a})
            for part in ("input", "middle", "output"):
                rows.append({"variant": f"{pair}/part_{part}/alpha{a:g}", "method": "partwise",
                             "alpha": a, "part": part})
            rows.append({"variant": f"{pair}/hma/K3/lr0.05/alpha{a:g}", "method": "hma",
                         "alpha": a, "K": 3, "hyper": json.dumps({"default_lr": True})})
        for it in (1, 2, 3):
            rows.append({"variant": f"{pair}/early_stopping/iter{it}", "method": "early_stopping",
                         "alpha": np.nan, "hyper": json.dumps({"iteration": it})})
    paths = {}
    for cat in CATS:
        df = pd.DataFrame(rows)
        df["reward"] = 1.0 - df["alpha"].fillna(0.5) + rng.normal(0, 0.01, len(df))
        df[cat] = df["alpha"].fillna(0.5) * 0.5 + rng.normal(0, 0.01, len(df))
        df[f"{cat}_task_a"] = df[cat]
        paths[cat] = tmp_path / f"wide_{cat}.csv"
        df.to_csv(paths[cat], index=False)
    return load_wide_tables({k: str(v) for k, v in paths.items()})


def test_toy_artifacts_draw_from_tables(tmp_path):
    config = load_config("config")
    tables = synthetic_wide_tables(tmp_path)
    names = buildable_artifacts(config)
    assert {"fig4", "fig5", "fig13", "fig14", "fig16"} <= set(names)
    for name in names:
        pdf, png = tmp_path / f"{name}.pdf", tmp_path / f"{name}.png"
        summary = draw(artifacts(config)[name], tables, str(pdf), str(png), caption="test")
        assert pdf.read_bytes().startswith(b"%PDF")
        assert png.read_bytes().startswith(b"\x89PNG")
        if name in {"fig4", "fig5", "fig13", "fig14", "fig16", "fig12"}:
            assert summary["points"] > 0, name


def test_rsf_training_curve_runs_from_theta0_to_the_rsf_model(tmp_path):
    config = load_config("config")
    tables = synthetic_wide_tables(tmp_path)
    (_, (series,)), = artifacts(config)["fig12"].rows
    pts = series_points(tables["reading"], series, "iteration", "reading")
    last = config["rlhf"]["rsf"]["iterations"]
    assert pts["iteration"].tolist() == [0, 1, 2, 3, last]
    assert pts["variant"].tolist() == ["sft", "rsf/early_stopping/iter1",
                                       "rsf/early_stopping/iter2", "rsf/early_stopping/iter3",
                                       "rsf/theta"]


def test_series_follow_the_table(tmp_path):
    config = load_config("config")
    tables = synthetic_wide_tables(tmp_path)
    s1 = draw(artifacts(config)["fig14"], tables, str(tmp_path / "a.pdf"), str(tmp_path / "a.png"),
              caption="")
    tables = {k: v[~v["variant"].str.startswith("dpo/")] for k, v in tables.items()}
    s2 = draw(artifacts(config)["fig14"], tables, str(tmp_path / "b.pdf"), str(tmp_path / "b.png"),
              caption="")
    assert s2["points"] < s1["points"]


@pytest.mark.parametrize("name", ["config", "paper", "zephyr"])
def test_every_artifact_is_made_or_skipped_with_reason(name):
    config = load_config(name)
    every = {f"fig{i}" for i in range(3, 17)} | {"table1"}
    made, skipped = set(buildable_artifacts(config)), skipped_artifacts(config)
    assert made | set(skipped) == every
    assert not made & set(skipped)
    assert all(reason for reason in skipped.values())


def test_table1_prints_paper_numbers_labelled(tmp_path):
    config = load_config("zephyr")
    tables = synthetic_wide_tables(tmp_path, pairs=("zephyr-7b-beta", "zephyr-7b-gemma"))
    frame = table1_frame(artifacts(config)["table1"], tables)
    paper = frame[frame["source"].str.startswith("paper")]
    assert len(paper) == 4 and paper["win_rate"].iloc[0] == pytest.approx(8.10)
    ours = frame[frame["source"] == "this run"]
    assert ours["reading"].notna().all()
