"""Evaluation jobs on tiny random models: lm-eval on the toy tasks, reward, PairRM, GPT-4 judge.

The toy world's data generator writes a small task folder and eval prompts; a tiny random
Llama and reward model stand in for the trained ones, so scores are near chance: these tests
check the plumbing (task loading, metric keys, n, stderr, JSON), the metric definitions are
checked in test_metrics.py.
"""

import importlib.util
import json
import math

import pytest

torch = pytest.importorskip("torch")

from alignment_tax import benchmarks, pairrm, reward_eval  # noqa: E402
from alignment_tax.io import read_jsonl  # noqa: E402

TOY_PARAMS = {
    "n_pretrain_docs": 200,
    "n_sharegpt": 100,
    "n_preference_pairs": 50,
    "n_preference_test_pairs": 20,
    "n_rlhf_train_prompts": 40,
    "n_eval_prompts": 12,
    "n_benchmark_items": 8,
}


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    from alignment_tax.toy_world import generate_toy_world

    out = tmp_path_factory.mktemp("toy") / "data"
    generate_toy_world(out, 0, TOY_PARAMS)
    return out


@pytest.fixture(scope="module")
def tiny_models(toy_data):
    from alignment_tax.tokenizer_training import train_tokenizer
    from conftest import tiny_llama, tiny_llama_config
    from transformers import LlamaForSequenceClassification

    torch.set_num_threads(1)
    texts = [row["text"] for row in read_jsonl(toy_data / "pretrain.jsonl")]
    tokenizer = train_tokenizer(texts, vocab_size=400)
    model = tiny_llama(tokenizer).eval()  # seeds torch with 0
    reward_model = LlamaForSequenceClassification(tiny_llama_config(tokenizer, num_labels=1)).eval()
    return model, tokenizer, reward_model


@pytest.mark.parametrize(
    "category,metric,scale", [("common_sense", "acc", 1), ("reading", "f1", 1),
                              ("translation", "bleu", 100)]
)
def test_benchmark_category_on_toy_tasks(toy_data, tiny_models, category, metric, scale):
    from alignment_tax.toy_tasks import benchmark_groups, task_include_dir

    model, tokenizer, _ = tiny_models
    tasks = benchmark_groups()[category]
    out = benchmarks.evaluate_category(
        model, tokenizer, category, tasks, task_dir=task_include_dir(toy_data / "tasks"),
        batch_size=8, seed=0,
    )
    assert set(out["tasks"]) == set(tasks)
    for score in out["tasks"].values():
        assert score["metric"] == metric
        assert score["n"] == TOY_PARAMS["n_benchmark_items"]
        assert 0 <= score["value"] <= scale
        assert math.isfinite(score["stderr"])
    values = [s["value"] for s in out["tasks"].values()]
    assert out["category"]["value"] == pytest.approx(sum(values) / len(values))
    assert out["category"]["n"] == TOY_PARAMS["n_benchmark_items"] * len(tasks)
    assert out["settings"]["decoding"] == "greedy" and out["settings"]["num_fewshot"] == 0
    assert ("sacrebleu_signature" in out) == (metric == "bleu")
    json.dumps(out)  # serialisable as written by the rule


def test_categories_evaluated_in_one_job_score_as_in_jobs_of_their_own(toy_data, tiny_models):
    """evaluate_benchmark scores every category of a variant with one model in one process
    (workflow_scripts/evaluate_benchmarks.py): each category starts from the random state
    after loading, and nothing a category leaves behind in the model or tokenizer (padding
    side, eval mode, caches) may change the next one's scores."""
    from alignment_tax.rule_io import random_states, seed_everything, set_random_states
    from alignment_tax.toy_tasks import benchmark_groups, task_include_dir

    model, tokenizer, _ = tiny_models
    groups = benchmark_groups()

    def evaluate(category):
        items = []
        out = benchmarks.evaluate_category(
            model, tokenizer, category, groups[category],
            task_dir=task_include_dir(toy_data / "tasks"), batch_size=8, seed=0, items=items)
        out.pop("seconds", None)
        return out, items

    alone = {}
    for category in groups:  # a job per category: a fresh seed each
        seed_everything(0)
        alone[category] = evaluate(category)
    seed_everything(0)
    after_loading = random_states()
    for category in reversed(list(groups)):  # one job, the other order
        set_random_states(after_loading)
        assert evaluate(category) == alone[category], category


def test_benchmark_skips_lm_evals_environment_report(toy_data, tiny_models, monkeypatch):
    # lm-eval's add_env_info runs torch's collect_env (pip list etc.) on every call
    import lm_eval.evaluator
    import torch.utils.collect_env
    from alignment_tax.toy_tasks import benchmark_groups, task_include_dir

    calls = []
    monkeypatch.setattr(torch.utils.collect_env, "get_pretty_env_info",
                        lambda: calls.append(1) or "env")
    report = lm_eval.evaluator.add_env_info
    model, tokenizer, _ = tiny_models
    out = benchmarks.evaluate_category(
        model, tokenizer, "common_sense", benchmark_groups()["common_sense"][:1],
        task_dir=task_include_dir(toy_data / "tasks"), batch_size=8, seed=0,
    )
    assert calls == []
    assert out["library_versions"]["torch"] == torch.__version__
    assert lm_eval.evaluator.add_env_info is report  # restored for other callers
    report({})  # lm-eval's own report, as simple_evaluate would call it
    assert calls == [1]


def test_benchmark_bad_input_fails_before_model_work(toy_data, tiny_models):
    from alignment_tax.toy_tasks import task_include_dir

    model, tokenizer, _ = tiny_models
    with pytest.raises(KeyError, match="no_such_task"):
        benchmarks.run_tasks(model, tokenizer, ["no_such_task"],
                             task_dir=task_include_dir(toy_data / "tasks"))
    with pytest.raises(FileNotFoundError):
        benchmarks.run_tasks(model, tokenizer, ["x"], task_dir=toy_data / "missing")
    with pytest.raises(ValueError, match="category"):
        benchmarks.metric_for("math")


def test_extract_task_scores_reads_lm_eval_keys():
    results = {
        "results": {"arc_easy": {"alias": "arc_easy", "acc,none": 0.5, "acc_stderr,none": 0.05,
                                 "acc_norm,none": 0.6},
                    "wmt": {"bleu,none": 12.5, "bleu_stderr,none": "N/A"}},
        "n-samples": {"arc_easy": {"original": 200, "effective": 100},
                      "wmt": {"original": 3, "effective": 3}},
    }
    scores = benchmarks.extract_task_scores(results, ["arc_easy"], "acc")
    assert scores["arc_easy"] == {"metric": "acc", "value": 0.5, "stderr": 0.05, "n": 100}
    assert math.isnan(benchmarks.extract_task_scores(results, ["wmt"], "bleu")["wmt"]["stderr"])
    with pytest.raises(KeyError, match="f1"):
        benchmarks.extract_task_scores(results, ["arc_easy"], "f1")


def test_squadv2_substitute_uses_token_f1():
    # scored item by item with our SQuAD token F1 (no evaluate.load from the hub)
    from alignment_tax.lm_eval_tasks.squadv2_tokf1.task import SQuAD2TokenF1
    from lm_eval.tasks import TaskManager

    doc = {"answers": {"text": ["Denver Broncos", "The Broncos"]}}
    scores = SQuAD2TokenF1.process_results(None, doc, [" the Broncos", (-1.0, False)])
    assert scores == {"f1": 1.0, "exact": 1.0}
    unanswerable = {"answers": {"text": []}}
    assert SQuAD2TokenF1.process_results(None, unanswerable, ["Paris", (-1.0, False)])["f1"] == 0
    assert benchmarks.TASK_SUBSTITUTES["squadv2"] == "squadv2_tokf1"
    manager = TaskManager(include_path=str(benchmarks.LOCAL_TASKS_DIR), include_defaults=False)
    assert "squadv2_tokf1" in manager.all_tasks


def test_reward_eval_with_hidden_reward(toy_data, tiny_models):
    from alignment_tax.toy_reward import hidden_reward

    model, tokenizer, reward_model = tiny_models
    rows = read_jsonl(toy_data / "prompts" / "eval.jsonl")
    kwargs = dict(n_prompts=6, max_new_tokens=8, temperature=1.0, batch_size=4, seed=3)
    out = reward_eval.evaluate_reward(model, tokenizer, reward_model, tokenizer, rows,
                                      hidden_reward=hidden_reward, **kwargs)
    assert out["reward"]["n"] == 6 and math.isfinite(out["reward"]["stderr"])
    assert -0.5 <= out["true_reward"]["mean"] <= 2.0
    # length: tokens of the decoded answer re-tokenized (a random model's bytes re-merge)
    assert out["length_tokens"]["mean"] > 0 and out["length_words"]["mean"] >= 0
    assert len(out["samples"]) == 6 and all("true_reward" in s for s in out["samples"])
    assert [s["prompt"] for s in out["samples"]] == [r["prompt"] for r in rows[:6]]
    # same seed, same samples and rewards
    again = reward_eval.evaluate_reward(model, tokenizer, reward_model, tokenizer, rows, **kwargs)
    assert again["reward"]["mean"] == pytest.approx(out["reward"]["mean"])
    assert "true_reward" not in again
    with pytest.raises(ValueError, match="n_prompts"):
        reward_eval.evaluate_reward(model, tokenizer, reward_model, tokenizer, rows,
                                    **{**kwargs, "n_prompts": 1000})


def test_pairrm_win_rates_both_orders():
    rates = pairrm.win_rates([1.0, 2.0, -1.0, 0.5], [-1.0, 1.0, 1.0, -2.0])
    assert rates["one_order"]["mean"] == pytest.approx(3 / 4)
    assert rates["reversed_order"]["mean"] == pytest.approx(2 / 4)
    assert rates["both_orders"]["mean"] == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    assert rates["consistency"] == pytest.approx(3 / 4)

    answers = [{"instruction": f"q{i}", "output": "long answer " * (i % 3),
                "reference": "long answer"} for i in range(6)]

    def longer_is_better(sources, first, second):
        return [float(len(a) - len(b)) for a, b in zip(first, second, strict=True)]

    out = pairrm.evaluate_pairrm(answers, longer_is_better)
    assert out["win_rate"]["both_orders"]["mean"] == pytest.approx(4 / 6)  # i % 3 != 0 wins
    assert len(out["samples"]) == 6


def test_alpaca_records_and_prompt_format(tiny_models):
    _, tokenizer, _ = tiny_models
    rows = [{"instruction": "Say hi", "output": "Hi!", "generator": "gpt4_1106_preview"}] * 3
    records = pairrm.alpaca_eval_records(rows, n_prompts=2)
    assert len(records) == 2 and records[0]["reference"] == "Hi!"
    with pytest.raises(KeyError, match="output"):
        pairrm.alpaca_eval_records([{"instruction": "x"}])
    assert pairrm.format_prompt(tokenizer, "Say hi") == "\n\nHuman: Say hi\n\nAssistant:"


@pytest.mark.skipif(
    importlib.util.find_spec("llm_blender") is None,
    reason="llm-blender is not installed",
)
def test_pairrm_model_runs_on_transformers_5(tmp_path, tiny_models):
    """A tiny random DebertaV2PairRM saved and loaded like PairRM-hf, scored both orders."""
    _, tokenizer, _ = tiny_models
    model, tokenizer = pairrm.tiny_pairrm(tokenizer, seed=0)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    model, tok = pairrm.load_pairrm(str(tmp_path), device="cpu")
    logits = pairrm.pairrm_logits(model, tok, ["say hi", "say bye"], ["hi", "bye"],
                                  ["hello there", "ciao"], batch_size=2,
                                  source_max_length=16, candidate_max_length=16)
    assert len(logits) == 2 and all(math.isfinite(x) for x in logits)


@pytest.mark.skipif(
    importlib.util.find_spec("llm_blender") is None,
    reason="llm-blender is not installed",
)
def test_tiny_pairrm_built_locally_scores_like_pairrm(tmp_path, tiny_models):
    """Rule build_tiny_pairrm's ranker: PairRM's class on a local tokenizer with PairRM's
    prefix tokens, saved as safetensors, read by rule evaluate_pairrm's code path."""
    from alignment_tax.tables import score_rows

    _, tokenizer, _ = tiny_models
    tokenizer.save_pretrained(tmp_path / "base")
    sizes = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
             "intermediate_size": 32}
    summary = pairrm.build_tiny_pairrm(str(tmp_path / "base"), str(tmp_path / "rm"),
                                       seed=3, **sizes)
    assert summary["seed"] == 3 and summary["parameters"] > 0
    folder = tmp_path / "rm"
    assert (folder / "model.safetensors").is_file()
    assert not list(folder.glob("*.bin")) and not list(tmp_path.glob(".rm.*"))

    model, tok = pairrm.load_pairrm(str(folder), device="cpu")
    assert type(model).__name__ == "DebertaV2PairRM"
    prefixes = [pairrm.SOURCE_PREFIX, pairrm.CAND1_PREFIX, pairrm.CAND2_PREFIX]
    ids = tok.convert_tokens_to_ids(prefixes)
    assert ids == [model.config.source_prefix_id, model.config.cand1_prefix_id,
                   model.config.cand2_prefix_id]
    for prefix, token_id in zip(prefixes, ids, strict=True):  # one token each, never split
        assert tok.encode(prefix + " say hi", add_special_tokens=False)[0] == token_id

    answers = [
        {"instruction": "Say hi", "output": "hi", "reference": "Hello there, friend!"},
        {"instruction": "Count to three", "output": "1 2 3", "reference": "one two three"},
    ]
    result = pairrm.evaluate_with_pairrm(str(folder), answers, batch_size=2, device="cpu")
    assert result["group"] == "pairrm"
    assert set(result["win_rate"]) == {"one_order", "reversed_order", "both_orders",
                                       "consistency"}
    for order in ("one_order", "reversed_order", "both_orders"):
        assert result["win_rate"][order]["n"] == 2
        assert 0 <= result["win_rate"][order]["mean"] <= 1
    assert [s["instruction"] for s in result["samples"]] == ["Say hi", "Count to three"]
    logits = [(s["logit_model_first"], s["logit_model_second"]) for s in result["samples"]]
    assert all(math.isfinite(x) for pair in logits for x in pair)
    # the weights depend on the config's seed alone, and the folder holds them all
    saved = model.state_dict()
    same, _ = pairrm.tiny_pairrm(tokenizer, seed=3, **sizes)
    other, _ = pairrm.tiny_pairrm(tokenizer, seed=4, **sizes)
    assert set(same.state_dict()) == set(saved)
    assert all(torch.equal(t, saved[k]) for k, t in same.state_dict().items())
    assert not torch.equal(other.state_dict()["head_layer.1.weight"],
                           saved["head_layer.1.weight"])
    # what the tables read from pairrm.json
    rows = score_rows(json.loads(json.dumps(result)), "pairrm")
    assert {r["metric"] for r in rows} == {"win_rate_one_order", "win_rate_reversed_order",
                                           "win_rate_both_orders"}
    with pytest.raises(ValueError, match="hidden_size"):
        pairrm.tiny_pairrm(tokenizer, seed=0, hidden_size=15, num_attention_heads=2)


@pytest.mark.slow
def test_paper_task_names_resolve_in_lm_eval():
    """The paper configuration's tasks exist in lm-eval's registry (squadv2 via our variant).

    Scanning lm-eval's built-in tasks takes ~10 s of CPU; the data sets themselves need the
    hub, so running them is left to the paper configuration.
    """
    manager = benchmarks.make_task_manager(None)
    for category, names in {"common_sense": ["arc_easy", "arc_challenge", "race", "piqa"],
                            "reading": ["squadv2", "drop"],
                            "translation": ["wmt14-fr-en"]}.items():
        benchmarks.metric_for(category)
        for name in names:
            assert benchmarks.TASK_SUBSTITUTES.get(name, name) in manager.all_tasks, name


def test_eval_plan_per_configuration():
    import yaml
    from alignment_tax import eval_plan
    from conftest import REPO, load_config

    toy = load_config("config")
    assert eval_plan.eval_groups(toy) == ["common_sense", "reading", "translation", "reward"]
    files = eval_plan.eval_files(toy)
    assert "results/toy/eval/sft/reward.json" in files
    assert "results/toy/eval/rsf/ma/alpha0.2/reading.json" in files
    assert len(files) == len(set(files)) == 4 * len(eval_plan.eval_variants(toy))
    assert eval_plan.benchmarked_groups(toy) == ["common_sense", "reading", "translation"]
    assert eval_plan.local_task_data(toy) == {g: {} for g in eval_plan.benchmarked_groups(toy)}
    # real lm-eval tasks on local files, per category
    lane = yaml.safe_load((REPO / "config" / "real_cpu.yaml").read_text())
    task_data = eval_plan.local_task_data(lane)
    assert set(task_data["reading"]) == set(lane["evaluation"]["benchmarks"]["reading"])
    assert task_data["reading"]["drop"] == lane["evaluation"]["local_task_data"]["drop"]
    assert eval_plan.local_task_files(lane) == sorted(
        set(lane["evaluation"]["local_task_data"].values()))
    inputs = eval_plan.benchmark_inputs(toy, "dpo/ma/alpha0.4")
    assert inputs["tasks"] == "results/toy/data/tasks"
    assert inputs["models"] == ["results/toy/models/rlhf/dpo", "results/toy/models/sft"]
    assert eval_plan.variant_dtype(toy, "sft") == "float32"

    zephyr = load_config("zephyr")
    groups = eval_plan.eval_groups(zephyr)
    assert groups == ["common_sense", "reading", "translation", "pairrm", "gpt4"]
    assert "tasks" not in eval_plan.benchmark_inputs(zephyr, "zephyr-7b-beta/theta")
    assert eval_plan.variant_dtype(zephyr, "zephyr-7b-beta/ma/alpha0.2") == "bfloat16"
    assert eval_plan.table_model_label(toy) == "toy"

    import re

    pattern = re.compile(eval_plan.VARIANT_PATTERN)
    assert all(pattern.fullmatch(v) for v in eval_plan.eval_variants(toy))


def test_fetch_alpaca_eval_reads_the_config_file(tmp_path, monkeypatch):
    import huggingface_hub

    rows = [{"instruction": "Say hi", "output": "Hi!", "generator": "gpt4", "dataset": "x"}]
    (tmp_path / "alpaca_eval_gpt4_baseline.json").write_text(json.dumps(rows))
    calls = []

    def fake_download(repo_id, filename, repo_type=None, revision=None):
        calls.append((repo_id, filename, repo_type))
        return str(tmp_path / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    spec = {"hub_id": "tatsu-lab/alpaca_eval", "config_name": "alpaca_eval_gpt4_baseline"}
    assert pairrm.fetch_alpaca_eval(spec) == rows
    assert calls == [("tatsu-lab/alpaca_eval", "alpaca_eval_gpt4_baseline.json", "dataset")]
