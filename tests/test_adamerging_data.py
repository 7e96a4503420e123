"""AdaMerging fits on labelled reading items that the evaluation never sees (fig15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alignment_tax.adamerging import load_qa_pairs, reading_fit_rows
from alignment_tax.io import read_jsonl
from alignment_tax.toy_world import READING_TASKS, generate_toy_world

REPO = Path(__file__).resolve().parents[1]
WORLD = {
    "n_pretrain_docs": 50,
    "n_sharegpt": 20,
    "n_preference_pairs": 10,
    "n_preference_test_pairs": 4,
    "n_rlhf_train_prompts": 8,
    "n_eval_prompts": 4,
    "n_benchmark_items": 150,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("adamerging_world")
    paths = generate_toy_world(out, 1, WORLD)
    return paths


def test_fit_items_and_evaluated_reading_items_share_no_item(world):
    tasks = list(READING_TASKS)
    evaluated = {r["prompt"] for t in tasks for r in read_jsonl(world["tasks"] / f"{t}.jsonl")}
    assert len(evaluated) == 2 * WORLD["n_benchmark_items"]
    world_json = json.loads(world["world"].read_text())
    rows = reading_fit_rows(WORLD, 1, tasks, 100, exclude_prompts=evaluated, world_json=world_json)
    assert len(rows) == 100 and {r["task"] for r in rows} == set(tasks)
    assert len({r["prompt"] for r in rows}) == 100
    assert not {r["prompt"] for r in rows} & evaluated
    # the fit reads exactly these items, labelled, in the chat format
    fit_file = world["tasks"].parent / "fit.jsonl"
    fit_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = load_qa_pairs([fit_file], n=100, seed=1)
    assert {p for p, _ in pairs} == {r["prompt"] for r in rows}
    assert all(p.endswith("\n\nAssistant:") and a.startswith(" ") for p, a in pairs)
    # the same seed draws the same items
    again = reading_fit_rows(WORLD, 1, tasks, 100, exclude_prompts=evaluated, world_json=world_json)
    assert again == rows


def test_fit_items_need_the_world_the_benchmark_came_from(world):
    world_json = json.loads(world["world"].read_text())
    with pytest.raises(ValueError, match="world.json"):
        reading_fit_rows(
            WORLD, 2, list(READING_TASKS), 10, exclude_prompts=set(), world_json=world_json
        )
    with pytest.raises(ValueError, match="evaluation.benchmarks.reading"):
        reading_fit_rows(WORLD, 1, ["squadv2"], 10, exclude_prompts=set())


def test_the_adamerging_rule_fits_on_the_new_items_only():
    """In the toy DAG, fit_adamerging reads the new items, not the benchmark's task files."""
    from conftest import run_snakemake

    proc = run_snakemake("-n", "--", "results/toy/recipes/rsf/adamerging/alpha0.2.json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs = {}
    for block in proc.stdout.split("\nrule ")[1:]:
        name = block.split(":", 1)[0]
        lines = block.split("\n\n", 1)[0].splitlines()
        jobs[name] = next((ln for ln in lines if ln.strip().startswith("input:")), "")
    assert "results/toy/data/adamerging/reading_fit.jsonl" in jobs["fit_adamerging"]
    assert "data/tasks" not in jobs["fit_adamerging"]
    assert "results/toy/data/tasks" in jobs["make_adamerging_data"]
