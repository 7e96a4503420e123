"""The toy world: generator determinism and formats, the hidden reward, the tokenizer,
the lm-eval tasks, and a few pretraining steps. Small world sizes keep it to seconds."""

from __future__ import annotations

import filecmp
import json
import re
from pathlib import Path

import pytest
from alignment_tax.io import read_json, read_jsonl
from alignment_tax.toy_preferences import PAIR_MIX, preference_rows, rater_visible_wrong
from alignment_tax.toy_reward import POLITE_CLOSERS, POLITE_OPENERS, hidden_reward, is_polite
from alignment_tax.toy_tasks import TASK_NAMES, task_include_dir
from alignment_tax.toy_world import _items, check_params, generate_toy_world
from alignment_tax.toy_world_facts import ATTRIBUTE_VALUES, JOBS, World

SMALL = {
    "n_creatures": 20,
    "n_people_names": 16,
    "n_pretrain_docs": 300,
    "n_sharegpt": 100,
    "n_preference_pairs": 60,
    "n_preference_test_pairs": 20,
    "n_rlhf_train_prompts": 40,
    "n_eval_prompts": 20,
    "n_benchmark_items": 12,
}
HH_TURN = re.compile(r"^\n\nHuman: (?P<q>[^\n]+)\n\nAssistant: (?P<a>[^\n]+)$")


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "data"
    generate_toy_world(out, seed=1, params=SMALL)
    return out


@pytest.fixture(scope="module")
def tokenizer_dir(world_dir, tmp_path_factory):
    from alignment_tax.tokenizer_training import build_tokenizer

    out = tmp_path_factory.mktemp("tok") / "tokenizer"
    build_tokenizer(world_dir / "pretrain.jsonl", world_dir / "sharegpt.json", out, vocab_size=600)
    return out


def _files(folder: Path) -> list[Path]:
    return sorted(
        p.relative_to(folder)
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


def test_same_seed_same_bytes_other_seed_differs(world_dir, tmp_path):
    again, other = tmp_path / "again", tmp_path / "other"
    generate_toy_world(again, seed=1, params=SMALL)
    generate_toy_world(other, seed=2, params=SMALL)
    files = _files(world_dir)
    assert files == _files(again)
    assert len(files) >= 9 + 13  # data files + task folder (6 yaml, 6 jsonl, utils.py)
    _, mismatch, errors = filecmp.cmpfiles(world_dir, again, [str(f) for f in files], shallow=False)
    assert mismatch == [] and errors == []
    for name in ("pretrain.jsonl", "sharegpt.json", "world.json", "hh_rlhf/train.jsonl"):
        assert (world_dir / name).read_bytes() != (other / name).read_bytes()


def test_unknown_or_bad_key_fails_early(tmp_path):
    with pytest.raises(ValueError, match="n_creatuers"):
        generate_toy_world(tmp_path, 1, {"n_creatuers": 10})
    with pytest.raises(ValueError, match="heldout_creature_fraction"):
        generate_toy_world(tmp_path, 1, {**SMALL, "heldout_creature_fraction": 1.5})
    assert not (tmp_path / "pretrain.jsonl").exists()


def test_hh_rlhf_format_and_truth(world_dir):
    for split, n in (
        ("train", SMALL["n_preference_pairs"]),
        ("test", SMALL["n_preference_test_pairs"]),
    ):
        pairs = read_jsonl(world_dir / "hh_rlhf" / f"{split}.jsonl")
        truth = read_jsonl(world_dir / "hh_rlhf" / f"{split}_truth.jsonl")
        assert len(pairs) == len(truth) == n
        for pair, hidden in zip(pairs, truth, strict=True):
            chosen, rejected = HH_TURN.match(pair["chosen"]), HH_TURN.match(pair["rejected"])
            assert chosen and rejected, pair
            assert chosen["q"] == rejected["q"]
            assert hidden["chosen_reward"] > hidden["rejected_reward"]
            # the truth is the hidden reward of the two responses, row-aligned
            assert hidden_reward(hidden["meta"], chosen["a"]) == hidden["chosen_reward"]
            assert hidden_reward(hidden["meta"], rejected["a"]) == hidden["rejected_reward"]
            assert hidden["pair_kind"] in PAIR_MIX
            assert hidden["chosen_kind"] != hidden["rejected_kind"]


def _contains_gold(meta: dict, answer: str) -> bool:
    from alignment_tax.toy_task_utils import answer_tokens

    gold, got = answer_tokens(meta["gold"]), answer_tokens(answer)
    return any(got[i : i + len(gold)] == gold for i in range(len(got) - len(gold) + 1))


@pytest.fixture(scope="module")
def pref_world():
    import random

    params = check_params(SMALL)
    world = World(1, params)
    rng = random.Random("pairs")
    items = _items(world, rng, 900, params["task_mix"], world.train_creatures, world.people, set())
    return world, items, rng


def test_preference_pairs_mix_kinds_and_keep_correctness(pref_world):
    world, items, rng = pref_world
    pairs, truth = preference_rows(items, rng, world)
    assert len(pairs) == len(truth) == len(items)
    for kind, share in PAIR_MIX.items():
        got = sum(t["pair_kind"] == kind for t in truth) / len(truth)
        assert got == pytest.approx(share, abs=0.05), kind
    n_correctness_decides = 0
    for pair, t in zip(pairs, truth, strict=True):
        chosen, rejected = HH_TURN.match(pair["chosen"])["a"], HH_TURN.match(pair["rejected"])["a"]
        assert t["chosen_reward"] > t["rejected_reward"]
        right = _contains_gold(t["meta"], chosen), _contains_gold(t["meta"], rejected)
        n_correctness_decides += right == (True, False)
        assert right != (False, True) or t["pair_kind"] == "mixed"  # polite wrong > cut right
        if t["pair_kind"] == "correctness":
            # same style, only the answer differs: correct is chosen
            assert right == (True, False)
            assert t["rejected_kind"] == t["chosen_kind"] + "_wrong"
            assert is_polite(chosen) == is_polite(rejected)
        elif t["pair_kind"] == "style":
            assert right == (True, True)
    # a real share of pairs is decided by correctness, not style alone
    assert n_correctness_decides / len(pairs) > 0.4
    kinds = {(t["meta"]["task"], t["pair_kind"]) for t in truth}
    assert len(kinds) == 9  # every task has every pair kind


def test_rater_visible_wrong_answers(pref_world):
    world, items, rng = pref_world
    french = set(world.fr_nouns.values()) | set(world.fr_adjectives.values())
    for item in items:
        wrong = rater_visible_wrong(world, item, rng)
        meta = item.meta()
        assert not _contains_gold(meta, wrong) and hidden_reward(meta, wrong) < 1
        assert wrong.endswith(" .") and "\n" not in wrong
        if item.kind == "knowledge":  # a value of another attribute, not a plausible one
            assert wrong[:-2] not in ATTRIBUTE_VALUES[item.subtask]
        elif item.kind == "reading":  # a job: not a person nor a town, not the job asked
            assert wrong[:-2] in JOBS and wrong[:-2] not in item.question.split()[-3:]
        else:  # the reference with exactly one word left in the invented French
            diff = [
                (a, b) for a, b in zip(item.terse.split(), wrong.split(), strict=True) if a != b
            ]
            assert len(diff) == 1 and diff[0][1] in french


def test_sharegpt_structure_and_polite_share(world_dir):
    rows = read_json(world_dir / "sharegpt.json")
    assert len(rows) == SMALL["n_sharegpt"]
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        turns = row["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"]
        assert all(
            isinstance(t["value"], str) and t["value"] and "\n" not in t["value"] for t in turns
        )
    polite = sum(is_polite(r["conversations"][1]["value"]) for r in rows) / len(rows)
    assert polite == pytest.approx(0.3, abs=0.01)


def test_prompts_and_pretrain_format(world_dir):
    for name, n in (
        ("rlhf_train", SMALL["n_rlhf_train_prompts"]),
        ("eval", SMALL["n_eval_prompts"]),
    ):
        rows = read_jsonl(world_dir / "prompts" / f"{name}.jsonl")
        assert len(rows) == n
        for row in rows:
            assert row["prompt"].startswith("\n\nHuman: ") and row["prompt"].endswith(
                "\n\nAssistant:"
            )
            assert {"task", "gold", "reference"} <= set(row["meta"])
            # the terse reference answer is a correct, unpolished answer
            assert hidden_reward(row["meta"], row["meta"]["reference"]) == 1.0
    docs = read_jsonl(world_dir / "pretrain.jsonl")
    assert len(docs) == SMALL["n_pretrain_docs"]
    assert {d["kind"] for d in docs} == {"knowledge", "reading", "translation"}
    assert any(d["easy"] for d in docs)


def test_benchmarks_use_held_out_entities(world_dir):
    world = read_json(world_dir / "world.json")
    held = set(world["heldout_creatures"])
    seen_in_training = json.dumps(read_json(world_dir / "sharegpt.json"))
    seen_in_training += (world_dir / "hh_rlhf" / "train.jsonl").read_text()
    seen_in_training += (world_dir / "prompts" / "rlhf_train.jsonl").read_text()
    for task in ("toy_creature_habitat", "toy_creature_diet", "toy_creature_color"):
        for row in read_jsonl(world_dir / "tasks" / f"{task}.jsonl"):
            assert row["creature"] in held
            assert len(row["choices"]) == 4 and 0 <= row["label"] < 4
    for creature in held:
        assert f" {creature} " not in seen_in_training
    # held-out creatures are still in pretraining: that is where their facts are learned
    assert any(f" {c} " in (world_dir / "pretrain.jsonl").read_text() for c in held)


def test_hidden_reward_prefers_polite_and_correct():
    meta = {"gold": "forest"}
    terse = "the zorb lives in the forest ."
    polite = f"{POLITE_OPENERS[0]} {terse} {POLITE_CLOSERS[0]}"
    wrong = "the zorb lives in the desert ."
    assert (
        hidden_reward(meta, " " + polite) > hidden_reward(meta, terse) > hidden_reward(meta, wrong)
    )
    assert hidden_reward(meta, polite) == 2.0
    assert hidden_reward(meta, terse) == 1.0
    assert hidden_reward(meta, wrong) == 0.0
    # an answer that never ends is penalised, from the text or from the generation flag
    assert hidden_reward(meta, "the zorb lives in the forest") == 0.5
    assert hidden_reward(meta, terse, finished=False) == 0.5
    assert hidden_reward(meta, terse + "\n\nHuman: more ?") == 0.5
    # partial credit by recall when the full gold is absent
    assert hidden_reward({"gold": "the big cat sees the dog ."}, "the big cat .") == pytest.approx(
        0.5 * 2 / 4
    )
    with pytest.raises(KeyError, match="gold"):
        hidden_reward({}, terse)


def test_tokenizer_round_trip_and_chat_template(tokenizer_dir, world_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    assert tok.eos_token_id is not None and tok.pad_token_id is not None
    assert tok.pad_token_id != tok.eos_token_id
    pair = read_jsonl(world_dir / "hh_rlhf" / "train.jsonl")[0]["chosen"]
    for text in (pair, "odd text\n with  spaces\tand UNSEEN wörds !\n"):
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    q, a = HH_TURN.match(pair).group("q", "a")
    messages = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    assert tok.apply_chat_template(messages, tokenize=False) == pair + tok.eos_token
    prompt = tok.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt == f"\n\nHuman: {q}\n\nAssistant:"
    # generation markers: the assistant mask covers the answer and EOS only
    out = tok.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    answer_ids = [i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tok.decode(answer_ids) == " " + a + tok.eos_token


def _tiny_model(tok):
    from conftest import tiny_llama

    return tiny_llama(tok).eval()


def test_lm_eval_loads_and_runs_tasks(world_dir, tokenizer_dir, tmp_path, monkeypatch):
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from transformers import AutoTokenizer

    monkeypatch.chdir(tmp_path)  # the task folder must not depend on the working directory
    manager = TaskManager(
        include_path=task_include_dir(world_dir / "tasks"), include_defaults=False
    )
    assert set(TASK_NAMES) <= set(manager.all_tasks)
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    lm = HFLM(pretrained=_tiny_model(tok), tokenizer=tok, batch_size=4, max_length=256)
    results = lm_eval.simple_evaluate(
        model=lm,
        tasks=["toy_creature_habitat", "toy_reading_people", "toy_fr_en"],
        task_manager=manager,
        limit=3,
        log_samples=True,
    )
    scores = results["results"]
    assert 0.0 <= scores["toy_creature_habitat"]["acc,none"] <= 1.0
    assert 0.0 <= scores["toy_reading_people"]["f1,none"] <= 1.0
    assert 0.0 <= scores["toy_fr_en"]["bleu,none"] <= 100.0
    request = results["samples"]["toy_reading_people"][0]["arguments"][0]
    assert request[0].endswith("\n\nAssistant:") and request[1]["until"] == ["\n"]


def test_task_folder_check_names_missing_file(world_dir, tmp_path):
    import shutil

    copy = tmp_path / "tasks"
    shutil.copytree(world_dir / "tasks", copy)
    (copy / "toy_fr_en.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="toy_fr_en.jsonl"):
        task_include_dir(copy)


def test_token_f1_squad_style():
    from alignment_tax.toy_task_utils import process_results_f1, token_f1

    assert token_f1(" Tamrel .", "tamrel") == 1.0
    assert token_f1("sure ! the answer is tamrel . hope this helps !", "tamrel") == pytest.approx(
        2 / 8
    )
    assert token_f1("burli", "tamrel") == 0.0
    assert process_results_f1({"answer": "the big cat"}, ["big dog"]) == {"f1": 0.5}


def test_pretraining_few_steps_saves_loadable_model(world_dir, tokenizer_dir, tmp_path):
    from alignment_tax.pretraining import pretrain
    from transformers import AutoModelForCausalLM, AutoTokenizer

    arch = {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 256,
    }
    train = {"steps": 4, "batch_size": 8, "curriculum_steps": 2, "warmup_steps": 1}
    mix = {"knowledge": 0.4, "reading": 0.45, "translation": 0.15}
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    summary = pretrain(
        world_dir / "pretrain.jsonl", tokenizer_dir, out_a, arch, train, mix, seed=3, threads=1
    )
    pretrain(
        world_dir / "pretrain.jsonl", tokenizer_dir, out_b, arch, train, mix, seed=3, threads=1
    )
    assert summary["steps"] == 4
    assert (out_a / "model.safetensors").is_file()
    # same seed, same weights on CPU
    assert (out_a / "model.safetensors").read_bytes() == (out_b / "model.safetensors").read_bytes()
    model = AutoModelForCausalLM.from_pretrained(out_a)
    tok = AutoTokenizer.from_pretrained(out_a)
    assert model.config.num_hidden_layers == 2 and len(tok) == model.config.vocab_size
    with pytest.raises(ValueError, match="toy_world.pretrain"):
        pretrain(
            world_dir / "pretrain.jsonl",
            tokenizer_dir,
            tmp_path / "c",
            arch,
            {"stepz": 1},
            mix,
            seed=3,
        )


def test_batch_plan_mix_and_curriculum():
    from alignment_tax.pretraining import batch_plan

    mix = {"knowledge": 0.4, "reading": 0.45, "translation": 0.15}
    early, late = batch_plan(0, 32, mix, 10), batch_plan(10, 32, mix, 10)
    assert len(early) == len(late) == 32
    assert early.count("knowledge") == 12 and early.count("translation") == 4
    assert early.count("reading_easy") == 16 and "reading" not in early
    assert late.count("reading") == 16 and "reading_easy" not in late


def test_length_groups_keep_the_batch_loss():
    import torch
    from alignment_tax.pretraining import collate, split_by_length
    from transformers import LlamaConfig, LlamaForCausalLM

    docs = [[5, 6, 7], [5, 6, 7, 8, 9, 10, 11], [8, 9], [5, 6, 7, 8, 9, 10]]
    groups = split_by_length(docs)
    assert sorted(map(len, sum(groups, []))) == sorted(map(len, docs)) and len(groups) == 2
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=16,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            pad_token_id=0,
        )
    )
    whole = model(**collate(docs, 0)).loss
    n = sum(len(d) - 1 for d in docs)
    parts = sum(model(**collate(g, 0)).loss * sum(len(d) - 1 for d in g) / n for g in groups)
    assert torch.allclose(whole, parts, atol=1e-5)
