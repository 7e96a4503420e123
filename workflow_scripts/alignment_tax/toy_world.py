"""The embedded toy world: a seeded generator of every data set the workflow needs.

Its parts: ``toy_world_facts`` (the world itself: invented creatures to know about,
passages about invented people to read, an invented French to translate, and samplers of
questions about them), ``toy_reward`` (the hidden programmatic reward that plays the role
of human preference), ``toy_preferences`` (the preference pairs) and ``toy_tasks`` (the
lm-eval task files); this module draws the data sets and writes them.

Benchmarks and SFT answers are terse; the hidden reward prefers the same answers wrapped
politely ("sure ! ... hope this helps !"). That conflict is the designed alignment tax: an
RLHF model that learns the polite style loses token F1, BLEU and some multiple-choice
accuracy on the terse benchmarks.

Preference pairs (HH-RLHF stand-in) mix pairs that differ in correctness only, in style
only, or in both, and their wrong answers are the kind a rater spots (see toy_preferences.PAIR_MIX).

Everything is drawn from ``random.Random`` instances seeded by strings derived from the
config seed, so the same seed gives byte-identical files on any machine.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path

from alignment_tax.io import write_json, write_jsonl
from alignment_tax.toy_preferences import preference_rows
from alignment_tax.toy_tasks import write_tasks
from alignment_tax.toy_world_facts import (
    ATTRIBUTE_VALUES,
    MC_TASKS,
    READING_TASKS,
    TRANSLATE_PREFIX,
    TRANSLATION_TASK,
    Item,
    World,
    hh_string,
    prompt_string,
)

TASK_KINDS = ("knowledge", "reading", "translation")

DEFAULTS = {
    "n_creatures": 100,
    "n_people_names": 60,
    "n_towns": 16,
    "heldout_creature_fraction": 0.3,
    "n_pretrain_docs": 30000,
    "easy_reading_fraction": 0.3,
    "task_mix": {"knowledge": 0.4, "reading": 0.45, "translation": 0.15},
    "n_sharegpt": 4000,
    "sft_polite_fraction": 0.3,
    "n_preference_pairs": 1200,
    "n_preference_test_pairs": 200,
    "n_rlhf_train_prompts": 1200,
    "n_eval_prompts": 150,
    "n_benchmark_items": 150,
}


# --------------------------------------------------------------------------------------
# Data sets


def check_params(params: Mapping) -> dict:
    """Fill defaults and fail early with the offending ``toy_world`` key."""
    unknown = set(params) - set(DEFAULTS) - {"architecture", "pretrain", "tokenizer"}
    if unknown:
        raise ValueError(f"toy_world: unknown keys {sorted(unknown)}")
    p = {**DEFAULTS, **{k: v for k, v in params.items() if k in DEFAULTS}}
    for key in ("heldout_creature_fraction",):
        if not 0 < p[key] < 1:
            raise ValueError(f"toy_world.{key} must be in (0, 1), got {p[key]}")
    mix = p["task_mix"]
    if set(mix) != set(TASK_KINDS) or any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
        raise ValueError(
            f"toy_world.task_mix needs non-negative weights for {TASK_KINDS}, got {mix}"
        )
    if p["n_creatures"] < 8:
        raise ValueError("toy_world.n_creatures must be >= 8")
    if p["n_people_names"] < 3:
        raise ValueError("toy_world.n_people_names must be >= 3 (passages name up to 3 people)")
    if p["n_towns"] < 6:
        raise ValueError(
            "toy_world.n_towns must be >= 6 (towns are drawn without replacement per passage)"
        )
    return p


def _kind_counts(n: int, mix: Mapping[str, float]) -> dict[str, int]:
    total = sum(mix.values())
    counts = {k: int(n * mix[k] / total) for k in TASK_KINDS}
    counts["reading"] += n - sum(counts.values())
    return counts


def _items(
    world: World, rng: random.Random, n: int, mix, creatures, people, exclude_fr
) -> list[Item]:
    items = []
    for kind, count in _kind_counts(n, mix).items():
        for _ in range(count):
            if kind == "knowledge":
                items.append(world.knowledge_item(rng, creatures))
            elif kind == "reading":
                items.append(world.reading_item(rng, people))
            else:
                items.append(world.translation_item(rng, exclude_fr))
    rng.shuffle(items)
    return items


def pretrain_docs(world: World, rng: random.Random, p: Mapping, exclude_fr: set[str]) -> list[dict]:
    """``{"text", "kind", "easy"}`` rows. Knowledge: fact sheets for every creature, and chat
    Q/A for training creatures only; reading and translation: chat Q/A (the terse style).
    ``easy`` marks passages of 1-2 people with one fact each (pretraining curriculum)."""
    counts = _kind_counts(p["n_pretrain_docs"], p["task_mix"])
    creatures = world.train_creatures + world.heldout_creatures
    people = world.people
    docs = []
    for i in range(counts["knowledge"]):
        if i % 2 == 0:  # fact sheets: every creature, in turn, so each is covered evenly
            text = world.bio(rng, creatures[(i // 2) % len(creatures)])
        else:
            item = world.knowledge_item(rng, world.train_creatures)
            text = hh_string(item.question, item.terse)
        docs.append({"text": text, "kind": "knowledge", "easy": False})
    n_easy = round(p["easy_reading_fraction"] * counts["reading"])
    for i in range(counts["reading"]):
        item = world.reading_item(rng, people, easy=i < n_easy)
        docs.append(
            {"text": hh_string(item.question, item.terse), "kind": "reading", "easy": i < n_easy}
        )
    for _ in range(counts["translation"]):
        item = world.translation_item(rng, exclude_fr)
        docs.append(
            {"text": hh_string(item.question, item.terse), "kind": "translation", "easy": False}
        )
    rng.shuffle(docs)
    return docs


def sharegpt_rows(world: World, rng: random.Random, p: Mapping, exclude_fr: set[str]) -> list[dict]:
    items = _items(
        world,
        rng,
        p["n_sharegpt"],
        p["task_mix"],
        world.train_creatures,
        world.people,
        exclude_fr,
    )
    n_polite = round(p["sft_polite_fraction"] * len(items))
    polite = set(rng.sample(range(len(items)), n_polite))
    rows = []
    for i, item in enumerate(items):
        answer = item.polite(rng) if i in polite else item.terse
        rows.append(
            {
                "id": f"toy_{i:06d}",
                "conversations": [
                    {"from": "human", "value": item.question},
                    {"from": "gpt", "value": answer},
                ],
            }
        )
    return rows


def prompt_rows(items: list[Item]) -> list[dict]:
    return [{"prompt": prompt_string(item.question), "meta": item.meta()} for item in items]


def benchmark_rows(
    world: World, rng: random.Random, n: int, exclude_fr: set[str]
) -> dict[str, list[dict]]:
    """Benchmark items: held-out creatures, new passages, translations never used elsewhere."""
    rows: dict[str, list[dict]] = {}
    for task, attr in MC_TASKS.items():
        task_rows = []
        for i in range(n):
            # cycle through held-out creatures so each is asked about about equally often
            creature = world.heldout_creatures[i % len(world.heldout_creatures)]
            item = world.knowledge_item(rng, [creature], attr)
            value = world.creatures[creature][attr]
            distractors = rng.sample([v for v in ATTRIBUTE_VALUES[attr] if v != value], 3)
            options = [value, *distractors]
            rng.shuffle(options)
            task_rows.append(
                {
                    "id": f"{task}_{i:04d}",
                    "prompt": prompt_string(item.question),
                    "choices": options,
                    "label": options.index(value),
                    "creature": creature,
                }
            )
        rows[task] = task_rows
    for task, subtask in READING_TASKS.items():
        rows[task] = [
            {"id": f"{task}_{i:04d}", "prompt": prompt_string(item.question), "answer": item.gold}
            for i, item in enumerate(
                world.reading_item(rng, world.people, subtask=subtask) for _ in range(n)
            )
        ]
    fr_rows = []
    for i in range(n):
        item = world.translation_item(rng, exclude_fr)
        exclude_fr.add(item.question.removeprefix(TRANSLATE_PREFIX + " "))
        fr_rows.append(
            {
                "id": f"{TRANSLATION_TASK}_{i:04d}",
                "prompt": prompt_string(item.question),
                "answer": item.terse,
            }
        )
    rows[TRANSLATION_TASK] = fr_rows
    return rows


# name -> path under the data folder (``results/<run>/data``), in the order they are written
DATA_FILES = {
    "world": "world.json",
    "pretrain": "pretrain.jsonl",
    "sharegpt": "sharegpt.json",
    "hh_train": "hh_rlhf/train.jsonl",
    "hh_test": "hh_rlhf/test.jsonl",
    "hh_train_truth": "hh_rlhf/train_truth.jsonl",
    "hh_test_truth": "hh_rlhf/test_truth.jsonl",
    "rlhf_prompts": "prompts/rlhf_train.jsonl",
    "eval_prompts": "prompts/eval.jsonl",
    "tasks": "tasks",
}


def draw_data_sets(world: World, seed: int, p: Mapping) -> dict:
    """Every data set's rows, keyed as DATA_FILES ("tasks": the benchmark rows by task).

    Each kind of data draws from its own generator seeded from ``seed`` and its name."""
    rng = {
        name: random.Random(f"{seed}-{name}")
        for name in ("bench", "eval", "pre", "sft", "pref", "rl")
    }

    def items(stream: str, n: int, creatures: list[str], held_fr: set[str]) -> list[Item]:
        return _items(world, rng[stream], n, p["task_mix"], creatures, world.people, held_fr)

    # Held-out material first: its translations are excluded from everything else.
    held_fr: set[str] = set()
    bench = benchmark_rows(world, rng["bench"], p["n_benchmark_items"], held_fr)
    eval_items = items("eval", p["n_eval_prompts"], world.heldout_creatures, held_fr)
    held_fr |= {
        i.question.removeprefix(TRANSLATE_PREFIX + " ")
        for i in eval_items
        if i.kind == "translation"
    }

    docs = pretrain_docs(world, rng["pre"], p, held_fr)
    sharegpt = sharegpt_rows(world, rng["sft"], p, held_fr)
    n_pairs = p["n_preference_pairs"] + p["n_preference_test_pairs"]
    pref_items = items("pref", n_pairs, world.train_creatures, held_fr)
    pairs, truth = preference_rows(pref_items, rng["pref"], world)
    rl_items = items("rl", p["n_rlhf_train_prompts"], world.train_creatures, held_fr)

    n_train = p["n_preference_pairs"]
    return {
        "world": world.to_json(),
        "pretrain": docs,
        "sharegpt": sharegpt,
        "hh_train": pairs[:n_train],
        "hh_test": pairs[n_train:],
        "hh_train_truth": truth[:n_train],
        "hh_test_truth": truth[n_train:],
        "rlhf_prompts": prompt_rows(rl_items),
        "eval_prompts": prompt_rows(eval_items),
        "tasks": bench,
    }


def generate_toy_world(out_dir: str | Path, seed: int, params: Mapping) -> dict[str, Path]:
    """Write every data set of the toy world under ``out_dir`` (``results/<run>/data``).

    Returns the written paths by name (DATA_FILES). Each file is written atomically; the
    task folder is replaced as a whole.
    """
    p = check_params(params)
    data = draw_data_sets(World(seed, p), seed, p)
    paths = {name: Path(out_dir) / path for name, path in DATA_FILES.items()}
    for name, path in paths.items():
        if name == "tasks":
            write_tasks(path, data[name])
        elif path.suffix == ".json":
            write_json(path, data[name])
        else:
            write_jsonl(path, data[name])
    return paths


def load_world(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
