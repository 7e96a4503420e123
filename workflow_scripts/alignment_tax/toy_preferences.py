"""Preference pairs of the toy world (the HH-RLHF stand-in): what the reward model is
trained and tested on, with the hidden reward of each side for analysis."""

from __future__ import annotations

import random

from alignment_tax.toy_reward import POLITE_CLOSERS, POLITE_OPENERS, hidden_reward
from alignment_tax.toy_world_facts import ATTRIBUTE_VALUES, ATTRIBUTES, JOBS, Item, World, hh_string

# Like a human rater, the reward model can only learn the preferences it can see. A first
# design drew two random responses per prompt, with the wrong answers of ``Item.wrong`` (the
# other person or town of the passage, another value of the same attribute, one swapped
# word): the 0.9M-parameter RM learnt the style and nothing of correctness (held-out
# accuracy 0.805; it ranked a terse correct answer above a terse wrong one in 50% of fresh
# items, chance). Pairs that isolate correctness with those subtle errors stayed at chance
# too. So the pairs use the errors a rater spots without looking the fact up: an answer of
# the wrong kind (a diet for a habitat question, a job for a who/where question) and an
# English translation with a word left in the invented French. They are still real
# correctness differences for the hidden reward (gold missing: 0 instead of 1, or 0.5 x
# recall), which is unchanged. And the pair kinds are mixed on purpose, because with random
# pairs only, correctness rarely decides a pair alone:
#   correctness: same style, correct vs wrong answer;
#   style: both correct, differing in politeness or in ending properly;
#   mixed: two random responses with different hidden rewards (both differences at once).
PAIR_MIX = {"correctness": 0.4, "style": 0.3, "mixed": 0.3}
ANSWER_STYLES = ("terse", "polite", "opener", "closer")
# what "style" and "mixed" pairs draw from (keys of _candidates)
STYLE_CANDIDATES = ("terse", "polite", "opener", "closer", "cut", "ramble")
MIXED_CANDIDATES = (
    "terse",
    "polite",
    "terse_wrong",
    "polite_wrong",
    "opener",
    "closer",
    "cut",
    "ramble",
)


def rater_visible_wrong(world: World, item: Item, rng: random.Random) -> str:
    """A wrong terse answer that a rater spots without knowing the facts.

    knowledge: a value of another attribute ("berries ." to "where does the X live ?");
    reading: a job, never the answer to a who/where question about the passage (and never
    the job asked about); translation: the reference with one noun or adjective left in the
    invented French. The gold answer is never contained in it."""
    if item.kind == "knowledge":
        other = rng.choice([a for a in ATTRIBUTES if a != item.subtask])
        return f"{rng.choice(ATTRIBUTE_VALUES[other])} ."
    if item.kind == "reading":
        asked = item.question.split()[-3:]  # "who is a baker ?": not "baker"
        return f"{rng.choice([j for j in JOBS if j not in asked])} ."
    words = item.terse.split()
    slots = [i for i, w in enumerate(words) if w in world.fr_nouns or w in world.fr_adjectives]
    i = rng.choice(slots)
    words[i] = world.fr_nouns.get(words[i]) or world.fr_adjectives[words[i]]
    return " ".join(words)


def _styled(item: Item, answer: str, style: str, opener: str, closer: str) -> str:
    """``answer`` (a terse answer) in one of ANSWER_STYLES."""
    body = item.polite_body.replace(item.terse, answer)
    if style == "terse":
        return answer
    if style == "polite":
        return f"{opener} {body} {closer}"
    if style == "opener":
        return f"{opener} {body}"
    return f"{answer} {closer}"  # closer only


def _candidates(item: Item, wrong: str, rng: random.Random) -> dict[str, str]:
    """Responses of varied quality by name: every style correct and wrong, plus one cut off
    before its end and one that rambles on and never ends; the hidden reward orders them."""
    opener, closer = rng.choice(POLITE_OPENERS), rng.choice(POLITE_CLOSERS)
    out = {}
    for style in ANSWER_STYLES:
        out[style] = _styled(item, item.terse, style, opener, closer)
        out[f"{style}_wrong"] = _styled(item, wrong, style, opener, closer)
    cut = out["polite"].split()
    out["cut"] = " ".join(cut[: max(2, len(cut) - 2)])  # cut off before the end
    out["ramble"] = f"{item.terse} {item.terse} {item.terse}".rstrip(" .!?")  # never ends
    return out


def preference_rows(
    items: list[Item], rng: random.Random, world: World
) -> tuple[list[dict], list[dict]]:
    """One pair per item, its kind drawn from PAIR_MIX; chosen = higher hidden reward.

    Truth rows: both hidden rewards, the item's meta, the pair kind and the candidate names
    (``chosen_kind``/``rejected_kind``, keys of _candidates) for per-type analysis."""
    kinds = list(PAIR_MIX)
    weights = [PAIR_MIX[k] for k in kinds]
    pairs, truth = [], []
    for item in items:
        cands = _candidates(item, rater_visible_wrong(world, item, rng), rng)
        meta = item.meta()
        reward = {name: hidden_reward(meta, text) for name, text in cands.items()}
        pair_kind = rng.choices(kinds, weights)[0]
        if pair_kind == "correctness":
            style = rng.choice(ANSWER_STYLES)
            a, b = style, f"{style}_wrong"
        else:
            pool = STYLE_CANDIDATES if pair_kind == "style" else MIXED_CANDIDATES
            while True:
                a, b = rng.sample(pool, 2)
                if reward[a] != reward[b]:
                    break
        chosen, rejected = (a, b) if reward[a] > reward[b] else (b, a)
        pairs.append(
            {
                "chosen": hh_string(item.question, cands[chosen]),
                "rejected": hh_string(item.question, cands[rejected]),
            }
        )
        truth.append(
            {
                "chosen_reward": reward[chosen],
                "rejected_reward": reward[rejected],
                "meta": meta,
                "pair_kind": pair_kind,
                "chosen_kind": chosen,
                "rejected_kind": rejected,
            }
        )
    return pairs, truth
