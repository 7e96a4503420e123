"""Benchmark fixture rows, as lm-eval 0.4.13's task definitions read them:

- ARC (allenai/ai2_arc) ``{"id", "question", "choices": {"text", "label"}, "answerKey"}``;
- RACE (EleutherAI/race) ``{"article", "problems"}`` where ``problems`` is the Python
  literal of a list of ``{"answer", "options", "question"}`` (lm-eval's preprocess_race
  parses it with ast.literal_eval and asks the last problem after the others);
- PIQA (baber/piqa) ``{"goal", "sol1", "sol2", "label"}``;
- SQuAD v2 ``{"id", "title", "context", "question", "answers": {"text", "answer_start"}}``
  (empty lists for an unanswerable question); rajpurkar/squad_v2's train split, AdaMerging's
  fit data, has the same schema;
- DROP (EleutherAI/drop) ``{"section_id", "query_id", "passage", "question", "answer":
  {"number", "date": {"day", "month", "year"}, "spans"}, "validated_answers": {"number":
  [...], "date": [...], "spans": [[...]]}}`` (lm-eval's drop utils.process_docs reads both);
- WMT14 fr-en (wmt/wmt14) ``{"translation": {"fr", "en"}}``.
"""

from __future__ import annotations

import hashlib
import random

from alignment_tax.real_schema_fixtures.item_banks import (
    ARC_CHALLENGE,
    ARC_EASY,
    DROP,
    PIQA,
    RACE,
    SQUAD,
    WMT14_FR_EN,
)

LETTERS = "ABCD"


def _choices(rng: random.Random, correct: str, wrong: tuple[str, ...]) -> tuple[list, int]:
    options = [correct, *wrong]
    rng.shuffle(options)
    return options, options.index(correct)


def arc_rows(rng: random.Random, n: int, *, challenge: bool) -> list[dict]:
    bank = ARC_CHALLENGE if challenge else ARC_EASY
    source = "Mercury" if challenge else "MCAS"
    rows = []
    for i, (question, correct, wrong) in enumerate(rng.sample(bank, n)):
        options, answer = _choices(rng, correct, wrong)
        # some ARC rows label their options 1-4 instead of A-D; lm-eval indexes the label list
        labels = ["1", "2", "3", "4"] if i % 4 == 3 else list(LETTERS)
        rows.append(
            {
                "id": f"{source}_{rng.randrange(10**6, 10**7)}",
                "question": question,
                "choices": {"text": options, "label": labels},
                "answerKey": labels[answer],
            }
        )
    return rows


def race_rows(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for article, problems in rng.sample(RACE, n):
        parsed = []
        for question, correct, wrong in problems:
            options, answer = _choices(rng, correct, wrong)
            parsed.append({"answer": LETTERS[answer], "options": options, "question": question})
        # EleutherAI/race stores the problems as the Python literal of a list of dicts
        rows.append({"article": article, "problems": repr(parsed)})
    return rows


def piqa_rows(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for goal, correct, wrong in rng.sample(PIQA, n):
        label = rng.randrange(2)
        sols = [wrong, correct] if label else [correct, wrong]
        rows.append({"goal": goal, "sol1": sols[0], "sol2": sols[1], "label": label})
    return rows


def squadv2_rows(rng: random.Random, n: int, bank=SQUAD) -> list[dict]:
    """``n`` SQuAD v2 rows drawn from ``bank`` (SQUAD: the evaluated validation items;
    SQUAD_TRAIN: the train split's)."""
    items = []
    for title, context, questions in bank:
        for question, answer in questions:
            if answer is None:
                answers = {"text": [], "answer_start": []}
            else:
                start = context.index(answer)
                answers = {"text": [answer], "answer_start": [start]}
            qid = hashlib.sha1(f"{title}|{question}".encode()).hexdigest()[:24]
            items.append(
                {
                    "id": qid,
                    "title": title,
                    "context": context,
                    "question": question,
                    "answers": answers,
                }
            )
    return rng.sample(items, n)


def _drop_answer(kind: str, value) -> dict:
    answer = {"number": "", "date": {"day": "", "month": "", "year": ""}, "spans": []}
    if kind == "number":
        answer["number"] = value
    elif kind == "spans":
        answer["spans"] = list(value)
    else:
        answer["date"] = dict(zip(("day", "month", "year"), value, strict=True))
    return answer


def drop_rows(rng: random.Random, n: int) -> list[dict]:
    items = []
    for p, (passage, questions) in enumerate(DROP):
        for q, (question, (kind, value)) in enumerate(questions):
            answer = _drop_answer(kind, value)
            items.append(
                {
                    "section_id": f"fixture_{p}",
                    "query_id": hashlib.sha1(f"{p}|{q}|{question}".encode()).hexdigest()[:32],
                    "passage": passage,
                    "question": question,
                    "answer": answer,
                    # the hub stores the list of validated answers column-wise
                    "validated_answers": {
                        "number": [answer["number"]],
                        "date": [answer["date"]],
                        "spans": [answer["spans"]],
                    },
                }
            )
    return rng.sample(items, n)


def wmt14_rows(rng: random.Random, n: int) -> list[dict]:
    return [{"translation": {"fr": fr, "en": en}} for fr, en in rng.sample(WMT14_FR_EN, n)]
