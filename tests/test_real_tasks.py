"""lm-eval's real task definitions (the paper config's benchmarks) on local files.

The fixtures of alignment_tax.real_schema_fixtures hold rows in each data set's own schema;
``evaluation.local_task_data`` points the real tasks at them through redirect YAMLs
(alignment_tax.benchmarks.write_local_task_yamls). A tiny random Llama stands in for the
model, so the scores are near chance: these tests check that lm-eval's own prompts, requests
and metrics run end to end with the network cut off.
"""

import math
import socket

import pytest

torch = pytest.importorskip("torch")

from alignment_tax import benchmarks  # noqa: E402
from alignment_tax.io import read_jsonl, write_jsonl  # noqa: E402
from alignment_tax.real_schema_fixtures import fixture_rows, write_fixtures  # noqa: E402
from conftest import load_config  # noqa: E402

N_ITEMS = 8
# each real task's own metrics (lm-eval 0.4.13), as lm-eval reports them
TASK_METRICS = {
    "arc_easy": {"acc", "acc_norm"},
    "arc_challenge": {"acc", "acc_norm"},
    "race": {"acc"},
    "piqa": {"acc", "acc_norm"},
    "squadv2": {"f1", "exact"},  # squadv2_tokf1's; lm-eval's squadv2 scores through the hub
    "drop": {"em", "f1"},
    "wmt14-fr-en": {"bleu", "ter", "chrf"},
}


@pytest.fixture
def no_network(monkeypatch):
    """Offline as in CI without a hub: the libraries' offline switches, and any socket
    connection raises."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)

    def refuse(*args, **kwargs):
        raise OSError("network access in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fixtures")
    write_fixtures(out, seed=0, n_items=N_ITEMS)
    return out


@pytest.fixture(scope="module")
def tiny_model(fixture_dir):
    from alignment_tax.tokenizer_training import train_tokenizer
    from conftest import tiny_llama

    torch.set_num_threads(1)
    texts = [str(row) for rows in fixture_rows(0, N_ITEMS).values() for row in rows]
    tokenizer = train_tokenizer(texts, vocab_size=400)
    # RACE articles run to ~300 tokens of this small vocabulary, plus 256 generated tokens
    return tiny_llama(tokenizer, max_position_embeddings=1024).eval(), tokenizer


def task_data(fixture_dir, tasks):
    return benchmarks.local_task_files(tasks, fixture_dir / "benchmarks")


@pytest.mark.parametrize("category", ["common_sense", "reading", "translation"])
def test_paper_tasks_run_offline_on_local_files(fixture_dir, tiny_model, no_network, category):
    model, tokenizer = tiny_model
    tasks = load_config("paper")["evaluation"]["benchmarks"][category]
    data = task_data(fixture_dir, tasks)
    assert set(data) == set(tasks)  # every paper task has a local-data definition
    items = []
    out = benchmarks.evaluate_category(
        model,
        tokenizer,
        category,
        tasks,
        local_task_data=data,
        batch_size=8,
        seed=0,
        items=items,
    )
    metric = benchmarks.metric_for(category)
    scale = 100 if metric == "bleu" else 1
    for task in tasks:
        reported = out["lm_eval_results"][task]
        names = {k.split(",")[0] for k in reported if "," in k and "_stderr" not in k}
        assert names == TASK_METRICS[task], task
        score = out["tasks"][task]
        assert score["n"] == N_ITEMS
        assert 0 <= score["value"] <= scale
        assert math.isfinite(score["stderr"])
    assert out["settings"]["local_task_data"] == {t: str(data[t]) for t in tasks}
    assert len(items) == N_ITEMS * len(tasks)  # per-item scores of the real tasks too


def _loaded_tasks(fixture_dir, tasks):
    task_manager, run_names, redirects = benchmarks.resolve_tasks(
        tasks, None, task_data(fixture_dir, tasks)
    )
    loaded = task_manager.load(run_names)["tasks"]
    return {task: loaded[run] for task, run in zip(tasks, run_names, strict=True)}


def test_redirected_tasks_are_lm_evals_own(fixture_dir, no_network):
    """The prompts, answer options and targets are those of lm-eval's task definitions,
    computed from rows in the data sets' own schemas."""
    from lm_eval.tasks.squadv2.task import SQuAD2

    tasks = _loaded_tasks(fixture_dir, list(TASK_METRICS))
    rows = {t: read_jsonl(fixture_dir / "benchmarks" / f"{t}.jsonl") for t in TASK_METRICS}
    for name in ("arc_easy", "arc_challenge"):
        task, row = tasks[name], rows[name][0]
        doc = next(iter(task.test_docs()))
        assert task.doc_to_text(doc) == f"Question: {row['question']}\nAnswer:"
        assert task.doc_to_choice(doc) == row["choices"]["text"]
        assert task.doc_to_target(doc) == row["choices"]["label"].index(row["answerKey"])
    race, row = tasks["race"], rows["race"][0]
    doc = next(iter(race.test_docs()))
    import ast

    last = ast.literal_eval(row["problems"])[-1]
    assert race.doc_to_text(doc).startswith(f"Article: {row['article']}\n\n")
    assert race.doc_to_text(doc).endswith(last["question"])
    assert race.doc_to_choice(doc) == last["options"]
    assert race.doc_to_target(doc) == "ABCD".index(last["answer"])
    piqa, row = tasks["piqa"], rows["piqa"][0]
    doc = next(iter(piqa.test_docs()))
    assert piqa.doc_to_text(doc) == f"Question: {row['goal']}\nAnswer:"
    assert piqa.doc_to_choice(doc) == [row["sol1"], row["sol2"]]
    assert piqa.doc_to_target(doc) == row["label"]
    squad, row = tasks["squadv2"], rows["squadv2"][0]
    assert isinstance(squad, SQuAD2)  # lm-eval's class, scored by our token F1
    doc = next(iter(squad.validation_docs()))
    assert squad.doc_to_text(doc).startswith(f"Title: {row['title']}\n\nBackground: ")
    drop, row = tasks["drop"], rows["drop"][0]
    doc = next(iter(drop.test_docs()))  # after lm-eval's drop process_docs
    assert drop.doc_to_text(doc) == f"{row['passage']} {row['question']}"
    assert doc["answers"]  # parsed from answer / validated_answers
    wmt, row = tasks["wmt14-fr-en"], rows["wmt14-fr-en"][0]
    doc = next(iter(wmt.test_docs()))
    assert wmt.doc_to_text(doc) == f"French phrase: {row['translation']['fr']}\nEnglish phrase:"
    assert wmt.doc_to_target(doc) == f" {row['translation']['en']}"


def test_redirect_yaml_includes_the_real_task_by_absolute_path(fixture_dir, tmp_path):
    import yaml

    data = task_data(fixture_dir, ["arc_challenge", "squadv2"])
    names = benchmarks.write_local_task_yamls(data, tmp_path)
    assert names == {"arc_challenge": "local_arc_challenge", "squadv2": "local_squadv2"}
    arc = yaml.safe_load((tmp_path / "local_arc_challenge.yaml").read_text())
    assert arc["include"].endswith("lm_eval/tasks/arc/arc_challenge.yaml")
    assert arc["tag"] is None and arc["dataset_path"] == "json"
    assert arc["dataset_kwargs"] == {"data_files": {"test": str(data["arc_challenge"])}}
    assert arc["test_split"] == "test" and arc["validation_split"] is None
    squad = yaml.safe_load((tmp_path / "local_squadv2.yaml").read_text())
    assert squad["include"].endswith("lm_eval_tasks/squadv2_tokf1/squadv2_tokf1.yaml")
    assert squad["dataset_kwargs"] == {"data_files": {"validation": str(data["squadv2"])}}
    for spec in (arc, squad):
        assert spec["include"].startswith("/")


def test_local_and_registry_tasks_mix(fixture_dir, monkeypatch):
    """Tasks without local data still come from lm-eval's registry (and squadv2 as its
    substitute); lm-eval's own index of ~10k YAMLs is replaced by a recording stand-in."""
    import lm_eval.tasks

    calls = []

    class RecordingTaskManager:
        def __init__(self, include_path=None, include_defaults=True):
            calls.append((include_path, include_defaults))
            self.all_tasks = ["local_arc_easy", "piqa", "squadv2_tokf1"]

    monkeypatch.setattr(lm_eval.tasks, "TaskManager", RecordingTaskManager)
    _, run_names, redirects = benchmarks.resolve_tasks(
        ["arc_easy", "piqa", "squadv2"], None, task_data(fixture_dir, ["arc_easy"])
    )
    assert run_names == ["local_arc_easy", "piqa", "squadv2_tokf1"]
    assert calls == [([redirects.name, str(benchmarks.LOCAL_TASKS_DIR)], True)]
    # all tasks local: lm-eval's built-in tasks are not indexed
    calls.clear()
    benchmarks.resolve_tasks(["arc_easy"], None, task_data(fixture_dir, ["arc_easy"]))
    assert calls[0][1] is False


def test_bad_local_task_data_fails_before_model_work(fixture_dir, tmp_path):
    arc = fixture_dir / "benchmarks" / "arc_easy.jsonl"
    with pytest.raises(KeyError, match="boolq"):
        benchmarks.write_local_task_yamls({"boolq": arc}, tmp_path)
    with pytest.raises(FileNotFoundError, match="evaluation.local_task_data.arc_easy"):
        benchmarks.write_local_task_yamls({"arc_easy": tmp_path / "none.jsonl"}, tmp_path)
    rows = read_jsonl(arc)
    del rows[2]["answerKey"]
    write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(ValueError, match="line 3: missing field 'answerKey'"):
        benchmarks.write_local_task_yamls({"arc_easy": tmp_path / "bad.jsonl"}, tmp_path)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="no rows"):
        benchmarks.write_local_task_yamls({"piqa": tmp_path / "empty.jsonl"}, tmp_path)
    with pytest.raises(ValueError, match="toy world"):
        benchmarks.resolve_tasks(["arc_easy"], tmp_path, {"arc_easy": arc})


def test_max_gen_toks_bounds_the_generated_answers(fixture_dir, tiny_model, no_network):
    """evaluation.max_gen_toks reaches lm-eval: a random model rarely emits WMT14's stop
    sequence, so its answers run to the bound (counted in generated tokens, from lm-eval's
    own request log) - 3 tokens with the bound, more without it."""
    model, tokenizer = tiny_model
    tasks = ["wmt14-fr-en"]
    calls = []
    generate = model.generate

    def counting_generate(*args, **kwargs):
        out = generate(*args, **kwargs)
        calls.append(out.shape[1] - kwargs["input_ids"].shape[1])
        return out

    model.generate = counting_generate
    try:
        for bound in (3, None):
            benchmarks.run_tasks(model, tokenizer, tasks, batch_size=8, limit=4, seed=0,
                                 local_task_data=task_data(fixture_dir, tasks),
                                 max_gen_toks=bound)
            calls.append(None)
    finally:
        del model.generate
    bounded, unbounded = calls[: calls.index(None)], calls[calls.index(None) + 1 : -1]
    assert bounded and max(bounded) <= 3
    assert unbounded and max(unbounded) > 3
