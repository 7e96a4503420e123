"""The hand-written items the fixtures are drawn from, one JSON file per bank in ``banks/``.

They are data, so they live in data files (code_fingerprint counts the folder's files byte
for byte, as it is named here). Every item is a simple true statement or question a small
instruct model can answer some of the time. Each bank is a JSON list of items in the
layout noted next to its name below (tuples are JSON lists).
"""

from __future__ import annotations

import json
from pathlib import Path

BANKS_DIR = Path(__file__).resolve().parent / "banks"


def load_bank(name: str) -> list:
    """The items of ``banks/<name>.json``."""
    path = BANKS_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise RuntimeError(f"fixture item bank {path} cannot be read: {err}") from err


# (question, correct answer, three wrong answers)
ARC_EASY = load_bank("arc_easy")
ARC_CHALLENGE = load_bank("arc_challenge")
# (goal, correct solution, wrong solution)
PIQA = load_bank("piqa")
# (article, [(question, correct option, three wrong options), ...])
RACE = load_bank("race")
# (title, context, [(question, answer span or None for unanswerable), ...])
SQUAD = load_bank("squadv2")
# SQuAD v2's train split, for AdaMerging's fit: other passages and questions than SQUAD
# (the evaluated validation items), in the same form
SQUAD_TRAIN = load_bank("squadv2_train")
# (passage, [(question, ("number", n) | ("spans", [...]) | ("date", (day, month, year)))])
DROP = load_bank("drop")
# (French, English)
WMT14_FR_EN = load_bank("wmt14_fr_en")
# (user question, helpful answer, unhelpful answer) for the chat and preference data
CHAT = load_bank("chat")
# (instruction, reference output, AlpacaEval subset)
ALPACA_EVAL = load_bank("alpaca_eval")

# the most items each data set can give (the fixtures' n_items)
MAX_ITEMS = min(
    len(ARC_EASY),
    len(ARC_CHALLENGE),
    len(PIQA),
    len(RACE),
    len(WMT14_FR_EN),
    len(ALPACA_EVAL),
    sum(len(q) for _, _, q in SQUAD),
    sum(len(q) for _, _, q in SQUAD_TRAIN),
    sum(len(q) for _, q in DROP),
)
