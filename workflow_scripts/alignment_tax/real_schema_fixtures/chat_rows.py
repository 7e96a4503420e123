"""Chat, preference, instruction and pretraining fixture rows, in their hub files' schemas:

- ShareGPT (anon8231489123/ShareGPT_Vicuna_unfiltered, ShareGPT_V3_unfiltered_cleaned_split
  .json): a JSON list of ``{"id", "conversations": [{"from": "human"|"gpt", "value"}]}``;
- Anthropic/hh-rlhf: JSONL ``{"chosen", "rejected"}``, each a transcript of
  ``"\\n\\nHuman: ...\\n\\nAssistant: ..."`` turns that differ in the last answer;
- HuggingFaceH4/ultrafeedback_binarized (splits train_prefs, test_prefs): ``{"prompt",
  "prompt_id", "chosen", "rejected", "messages", "score_chosen", "score_rejected"}`` with
  chosen/rejected/messages lists of ``{"role", "content"}``;
- tatsu-lab/alpaca_eval (alpaca_eval_gpt4_baseline.json): a JSON list of ``{"instruction",
  "output", "generator", "dataset"}``; and its df_gamed.csv (the length-controlled win
  rate's data, read by alpaca_eval's GLM): CSV columns ``model, index,
  instruction_difficulty, preference, std_delta_len, not_gamed_baseline``, one row per
  gamed baseline (gamed_concise, gamed_verbose) and instruction index 0..n-1;
- togethercomputer/RedPajama-Data-1T-Sample: JSONL ``{"text", "meta"}``.
"""

from __future__ import annotations

import hashlib
import json
import math
import random

from alignment_tax.real_schema_fixtures.item_banks import ALPACA_EVAL, CHAT, DROP, RACE, SQUAD


def _hh(turns: list[tuple[str, str]]) -> str:
    return "".join(f"\n\nHuman: {q}\n\nAssistant: {a}" for q, a in turns)


def chat_splits(rng: random.Random, n: int) -> tuple[list, list]:
    """Disjoint train and test items of the chat bank: n and max(2, n // 3)."""
    n_test = max(2, n // 3)
    if n + n_test > len(CHAT):
        raise ValueError(
            f"fixture n_items {n} needs {n + n_test} chat items; the bank has {len(CHAT)}"
        )
    items = rng.sample(CHAT, n + n_test)
    return items[:n], items[n:]


def sharegpt_rows(rng: random.Random, items: list) -> list[dict]:
    rows = []
    for i, (question, good, _) in enumerate(items):
        turns = [(question, good)]
        if i % 3 == 2:  # some conversations go on for a second exchange
            turns.append(
                ("Thank you. Can you say that more briefly?", good.split(",")[0].rstrip(".") + ".")
            )
        conversations = []
        for q, a in turns:
            conversations += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
        rows.append({"id": f"{rng.getrandbits(32):08x}_{i}", "conversations": conversations})
    return rows


def hh_rlhf_rows(items: list) -> list[dict]:
    rows = []
    for i, (question, good, bad) in enumerate(items):
        context = (
            []
            if i % 3
            else [
                ("Hi, can you help me with a question?", "Of course. What would you like to know?")
            ]
        )
        rows.append(
            {
                "chosen": _hh([*context, (question, good)]),
                "rejected": _hh([*context, (question, bad)]),
            }
        )
    return rows


def ultrafeedback_rows(rng: random.Random, items: list) -> list[dict]:
    rows = []
    for question, good, bad in items:
        user = {"content": question, "role": "user"}
        chosen = [user, {"content": good, "role": "assistant"}]
        rows.append(
            {
                "prompt": question,
                "prompt_id": hashlib.sha256(question.encode()).hexdigest(),
                "chosen": chosen,
                "rejected": [user, {"content": bad, "role": "assistant"}],
                "messages": chosen,
                "score_chosen": float(rng.choice([8.0, 8.5, 9.0, 10.0])),
                "score_rejected": float(rng.choice([1.0, 2.0, 3.0, 4.5])),
            }
        )
    return rows


def alpaca_eval_rows(rng: random.Random, n: int) -> list[dict]:
    return [
        {"instruction": instruction, "output": output, "generator": "gpt4", "dataset": subset}
        for instruction, output, subset in rng.sample(ALPACA_EVAL, n)
    ]


def alpaca_eval_glm_rows(rng: random.Random, n: int) -> list[dict]:
    """df_gamed.csv rows for instructions 0..n-1 (the alpaca_eval fixture's positions).

    As in AlpacaEval's file, each instruction has one difficulty shared by its rows, and
    the two gamed baselines answer it much shorter (std_delta_len < 0, preferred less)
    and much longer (> 0, preferred more) than the reference; the values are drawn here
    (AlpacaEval's own come from its 2023 leaderboard), so they carry the schema, not data.
    """
    difficulty = [round(rng.uniform(-1.0, 1.0), 4) for _ in range(n)]
    rows = []
    for model, sign in (("gamed_concise", -1.0), ("gamed_verbose", 1.0)):
        for i in range(n):
            delta = sign * round(rng.uniform(0.5, 2.0), 4)
            preference = 1 / (1 + math.exp(-(0.5 * delta - difficulty[i])))
            rows.append(
                {
                    "model": model,
                    "index": i,
                    "instruction_difficulty": difficulty[i],
                    "preference": round(preference, 6),
                    "std_delta_len": delta,
                    "not_gamed_baseline": False,
                }
            )
    return rows


def pretrain_rows() -> list[dict]:
    """Plain documents (the reading passages), as RedPajama rows with a ``meta`` string."""
    texts = [a for a, _ in RACE] + [c for _, c, _ in SQUAD] + [p for p, _ in DROP]
    return [
        {"text": text, "meta": json.dumps({"source": "fixture", "index": i})}
        for i, text in enumerate(texts)
    ]
