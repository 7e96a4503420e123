"""Score tables from evaluation JSONs, the Pareto front helper, and (once the toy run has
produced its tables) what the default toy run must show."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from alignment_tax.io import write_json
from alignment_tax.tables import (
    LONG_COLUMNS,
    alignment_tax_checks,
    long_table,
    pareto_front,
    wide_table,
    write_tables,
)

REPO = Path(__file__).resolve().parents[1]

CATEGORY_TASKS = {
    "common_sense": ("acc", ["habitat", "diet"]),
    "reading": ("f1", ["people"]),
    "translation": ("bleu", ["fr_en"]),
}


def _benchmark_json(category, base):
    metric, tasks = CATEGORY_TASKS[category]
    task_scores = {t: {"metric": metric, "value": base + i / 10, "stderr": 0.01, "n": 10}
                   for i, t in enumerate(tasks)}
    mean = sum(s["value"] for s in task_scores.values()) / len(tasks)
    return {"group": category, "metric": metric, "tasks": task_scores,
            "category": {"metric": f"mean_{metric}", "value": mean, "stderr": 0.01, "n": 10}}


def _reward_json(reward, true):
    return {"group": "reward", "reward": {"mean": reward, "stderr": 0.1, "n": 5},
            "true_reward": {"mean": true, "stderr": 0.1, "n": 5},
            "length_tokens": {"mean": 9.0, "stderr": 1.0, "n": 5}, "samples": []}


# variant -> (meta, reward, benchmark base score)
VARIANTS = {
    "sft": ({"pair": "rsf", "algorithm": None, "method": "plain", "alpha": 1.0, "K": 1,
             "part_ratios": [1.0], "hyper": {"model": "theta0"}}, 0.0, 0.5),
    "rsf/theta": ({"pair": "rsf", "algorithm": "rsf", "method": "plain", "alpha": 0.0, "K": 1,
                   "part_ratios": [0.0]}, 1.0, 0.3),
    "rsf/ma/alpha0.5": ({"pair": "rsf", "algorithm": "rsf", "method": "ma", "alpha": 0.5,
                         "K": 1, "part_ratios": [0.5]}, 0.6, 0.45),
    "rsf/hma/K3/lr0.05/alpha0.2": ({"pair": "rsf", "algorithm": "rsf", "method": "hma",
                                    "alpha": 0.2, "K": 3, "part_ratios": [0.1, 0.2, 0.3],
                                    "hyper": {"lr": 0.05}}, 0.9, 0.4),
}


@pytest.fixture
def eval_tree(tmp_path):
    eval_root, recipes = tmp_path / "eval", {}
    for variant, (meta, reward, base) in VARIANTS.items():
        for category in CATEGORY_TASKS:
            write_json(eval_root / variant / f"{category}.json", _benchmark_json(category, base))
        write_json(eval_root / variant / "reward.json", _reward_json(reward, reward + 0.1))
        recipes[variant] = {"id": variant, "meta": {"id": variant, **meta}}
    # a skipped GPT-4 judge adds no rows
    write_json(eval_root / "sft" / "gpt4.json", {"group": "gpt4", "skipped": True, "reason": "x"})
    files = sorted(eval_root.rglob("*.json"))
    return eval_root, files, recipes


def test_long_table_rows_and_metadata(eval_tree):
    eval_root, files, recipes = eval_tree
    long = long_table(files, eval_root=eval_root, recipes=recipes, run="toy", model="toy")
    assert list(long.columns) == LONG_COLUMNS
    # per variant: 4 tasks + 3 category rows + 3 reward rows
    assert len(long) == len(VARIANTS) * (4 + 3 + 3)
    hma = long[long["variant"] == "rsf/hma/K3/lr0.05/alpha0.2"]
    assert set(hma["part_ratios"]) == {"0.1|0.2|0.3"} and set(hma["K"]) == {3}
    assert set(hma["hyper"]) == {'{"lr": 0.05}'}
    cs = long[(long["variant"] == "rsf/theta") & (long["benchmark"] == "common_sense")]
    assert cs["metric"].tolist() == ["mean_acc"] and cs["value"].iloc[0] == pytest.approx(0.35)
    reward = long[(long["variant"] == "sft") & (long["metric"] == "reward")]
    assert reward["value"].iloc[0] == 0.0 and reward["stderr"].iloc[0] == 0.1
    assert reward["n"].iloc[0] == 5
    assert set(long["model"]) == {"toy"} and set(long["run"]) == {"toy"}
    assert long.loc[long["variant"] == "sft", "algorithm"].isna().all()


def test_public_pair_model_label(eval_tree):
    eval_root, files, recipes = eval_tree
    long = long_table(files, eval_root=eval_root, recipes=recipes, model="toy",
                      public_pairs=["rsf"])
    assert set(long["model"]) == {"rsf"}


def test_wide_tables_and_files(eval_tree, tmp_path):
    eval_root, files, recipes = eval_tree
    long = long_table(files, eval_root=eval_root, recipes=recipes, run="toy", model="toy")
    wide = wide_table(long, "common_sense")
    assert len(wide) == len(VARIANTS)
    row = wide[wide["variant"] == "rsf/ma/alpha0.5"].iloc[0]
    assert row["habitat"] == pytest.approx(0.45) and row["diet"] == pytest.approx(0.55)
    assert row["common_sense"] == pytest.approx(0.5)
    assert row["reward"] == pytest.approx(0.6) and row["true_reward"] == pytest.approx(0.7)
    assert "common_sense_stderr" in wide.columns and row["alpha"] == 0.5

    written = write_tables(long, tmp_path / "tables")
    assert {p.name for p in written.values()} == {
        "scores_long.csv", "scores_long.parquet", "wide_common_sense.csv", "wide_reading.csv",
        "wide_translation.csv"}
    back = pd.read_parquet(tmp_path / "tables" / "scores_long.parquet")
    pd.testing.assert_frame_equal(back, long, check_dtype=False)
    assert len(pd.read_csv(tmp_path / "tables" / "wide_reading.csv")) == len(VARIANTS)


def test_bad_eval_path_is_named(tmp_path):
    with pytest.raises(ValueError, match="variant"):
        long_table([tmp_path / "eval" / "x.json"], eval_root=tmp_path / "eval")


def test_pareto_front_hand_cases():
    pts = np.array([[1.0, 5.0], [2.0, 4.0], [1.5, 3.0], [3.0, 1.0], [2.0, 4.0], [0.5, 0.5]])
    # (1.5, 3) is dominated by (2, 4); (0.5, 0.5) by everything; duplicates both stay
    assert pareto_front(pts).tolist() == [0, 1, 4, 3]
    # minimising the second coordinate instead
    assert pareto_front(pts, maximize=[True, False]).tolist() == [5, 3]
    with_nan = np.array([[1.0, np.nan], [0.0, 1.0]])
    assert pareto_front(with_nan).tolist() == [1]
    frame = pd.DataFrame({"reward": [0.1, 0.9, 0.5], "reading": [0.9, 0.1, 0.4]})
    assert pareto_front(frame[["reward", "reading"]]).tolist() == [0, 2, 1]
    with pytest.raises(ValueError):
        pareto_front([1.0, 2.0])


def test_alignment_tax_checks_on_synthetic_table(eval_tree):
    eval_root, files, recipes = eval_tree
    long = long_table(files, eval_root=eval_root, recipes=recipes, model="toy")
    checks = alignment_tax_checks(long)
    rsf = checks["algorithms"]["rsf"]
    assert rsf["reward_above_theta0"] and rsf["taxed_categories"] == list(CATEGORY_TASKS)
    assert rsf["ma"]["alpha"] == 0.5 and rsf["ma"]["between"]
    assert checks["all_rlhf_above_theta0"] and checks["ma_strictly_between_for_all"]
    # an MA point outside [theta, theta0] fails the check
    long.loc[(long["variant"] == "rsf/ma/alpha0.5") & (long["metric"] == "reward"), "value"] = 2.0
    failed = alignment_tax_checks(long)
    assert not failed["ma_between_for_all"] and not failed["ma_strictly_between_for_all"]
