"""AdaMerging fits on labelled reading items that the evaluation never sees (fig15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alignment_tax.adamerging import load_qa_pairs, reading_fit_rows
from alignment_tax.io import read_jsonl
from alignment_tax.toy_world import generate_toy_world
from alignment_tax.toy_world_facts import READING_TASKS

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


def _planned_inputs(dry_run_output: str) -> dict[str, str]:
    """{rule: its "input:" line} of the jobs a ``snakemake -n`` printed."""
    jobs = {}
    for block in dry_run_output.split("\nrule ")[1:]:
        name = block.split(":", 1)[0]
        lines = block.split("\n\n", 1)[0].splitlines()
        jobs[name] = next((ln for ln in lines if ln.strip().startswith("input:")), "")
    return jobs


def test_the_adamerging_rule_fits_on_the_new_items_only():
    """In the toy DAG, fit_adamerging reads the new items, not the benchmark's task files."""
    from conftest import run_snakemake

    proc = run_snakemake("-n", "--", "results/toy/recipes/rsf/adamerging/alpha0.2.json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs = _planned_inputs(proc.stdout)
    assert "results/toy/data/adamerging/reading_fit.jsonl" in jobs["fit_adamerging"]
    assert "data/tasks" not in jobs["fit_adamerging"]
    assert "results/toy/data/tasks" in jobs["make_adamerging_data"]


# ------------------------------------------------------------------ the paper's path


@pytest.fixture(scope="module")
def squad_files(tmp_path_factory):
    """SQuAD v2 train rows (AdaMerging's fit data) and the evaluated squadv2 rows, in the
    hub copy's schema (alignment_tax.real_schema_fixtures)."""
    from alignment_tax.real_schema_fixtures import write_fixtures

    paths = write_fixtures(tmp_path_factory.mktemp("squad"), seed=5, n_items=12)
    return paths["squadv2_train"], paths["squadv2"]


def test_squadv2_train_rows_through_the_loader_into_the_fit_data(squad_files, tmp_path):
    from alignment_tax.adamerging_squadv2 import squadv2_fit_rows
    from alignment_tax.io import write_jsonl

    train, evaluated = squad_files
    spec = {"local_files": {"train": str(train)}, "split": "train"}
    rows = squadv2_fit_rows(spec, 8, seed=1, evaluated_files=[evaluated])
    assert len(rows) == 8 and {r["task"] for r in rows} == {"squadv2"}
    source = {r["id"]: r for r in read_jsonl(train)}
    for row in rows:  # lm-eval's squadv2 prompt and target of that SQuAD row
        doc = source[row["id"]]
        assert row["prompt"] == (
            f"Title: {doc['title']}\n\nBackground: {doc['context']}\n\n"
            f"Question: {doc['question']}\n\nAnswer:"
        )
        golds = doc["answers"]["text"]
        assert row["answer"] == " " + (golds[0] if golds else "unanswerable")
    assert not {r["prompt"] for r in rows} & {
        r["prompt"] for r in squadv2_fit_rows({"local_files": str(evaluated)}, 12, seed=1)
    }
    assert squadv2_fit_rows(spec, 8, seed=1) == rows  # seeded
    # fit_adamerging reads them as it reads the toy world's items
    fit_file = tmp_path / "reading_fit.jsonl"
    write_jsonl(fit_file, rows)
    pairs = load_qa_pairs([fit_file], n=8, seed=1)
    assert {p for p, _ in pairs} == {r["prompt"] for r in rows}
    with pytest.raises(ValueError, match="n_train_samples"):
        squadv2_fit_rows(spec, 13, seed=1)


def test_squadv2_fit_data_refuse_a_missing_field_or_an_evaluated_item(squad_files, tmp_path):
    from alignment_tax.adamerging_squadv2 import squadv2_fit_rows
    from alignment_tax.io import write_jsonl

    train, evaluated = squad_files
    rows = read_jsonl(train)
    no_question = tmp_path / "no_question.jsonl"
    write_jsonl(no_question, [{k: v for k, v in r.items() if k != "question"} for r in rows])
    with pytest.raises(ValueError, match=r"no_question\.jsonl.*'question'"):
        squadv2_fit_rows({"local_files": str(no_question)}, 4, seed=1)
    one_without_context = tmp_path / "one_without_context.jsonl"
    write_jsonl(
        one_without_context, [{k: v for k, v in rows[0].items() if k != "context"}] + rows[1:]
    )
    with pytest.raises(ValueError, match=r"one_without_context\.jsonl.*row 0.*'context'"):
        squadv2_fit_rows({"local_files": str(one_without_context)}, 4, seed=1)
    # the evaluated items themselves as fit data: refused
    with pytest.raises(ValueError, match="evaluated squadv2 items"):
        squadv2_fit_rows({"local_files": str(evaluated)}, 4, seed=1, evaluated_files=[evaluated])


def test_the_paper_path_has_adamerging_on_squadv2_train():
    """real_cpu.yaml (stages.toy_world false) fits AdaMerging; a paper-path config with
    merging.adamerging but no datasets.squadv2_train stops, naming the key."""
    import yaml
    from alignment_tax.config_checks import ConfigError, check_config
    from alignment_tax.variants import variant_ids
    from conftest import load_config

    real = yaml.safe_load((REPO / "config" / "real_cpu.yaml").read_text())
    assert variant_ids(real, ["adamerging"]) == ["rsf/adamerging/alpha0.4"]
    paper = load_config("paper")
    assert variant_ids(paper, ["adamerging"]) == [
        f"rsf/adamerging/alpha{a}" for a in ("0.2", "0.4", "0.6")
    ]
    del paper["datasets"]["squadv2_train"]
    with pytest.raises(ConfigError, match="datasets.squadv2_train"):
        check_config(paper)


def test_the_real_lane_adamerging_rule_reads_squadv2_train():
    """In the real lane's DAG the fit data come from the SQuAD v2 train fixture, checked
    against the evaluated squadv2 fixture; nothing of the toy world is read."""
    from conftest import require_gguf_of, run_snakemake

    require_gguf_of(REPO / "config" / "real_cpu.yaml")
    proc = run_snakemake(
        "-n",
        "--nolock",
        "--configfile",
        "config/real_cpu.yaml",
        "--",
        "results/real_cpu/recipes/rsf/adamerging/alpha0.4.json",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs = _planned_inputs(proc.stdout)
    assert "results/real_cpu/data/adamerging/reading_fit.jsonl" in jobs["fit_adamerging"]
    if "make_adamerging_data" in jobs:  # planned unless already built
        data_inputs = jobs["make_adamerging_data"]
        assert "fixtures/squad_v2/train.jsonl" in data_inputs
        assert "fixtures/benchmarks/squadv2.jsonl" in data_inputs
        assert "world.json" not in data_inputs
