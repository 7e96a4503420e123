"""The embedded toy world: a seeded generator of every data set the workflow needs, and the
hidden programmatic reward that plays the role of human preference.

The world (one seed, word-level, all lower case, punctuation as separate words):
- knowledge: invented creatures, each with a habitat, a diet and a colour. Facts about every
  creature are in the pretraining corpus; a held-out share of the creatures never appears in
  SFT, preference or RLHF data and is what the multiple-choice benchmarks ask about.
- reading: short passages about invented people (1-3 people, 1-2 facts each) followed by a
  question whose answer is a span of the passage (a name or a town).
- translation: an invented French (its own words, noun-adjective order, ``ne V pas``) to
  English.

Benchmarks and SFT answers are terse; the hidden reward prefers the same answers wrapped
politely ("sure ! ... hope this helps !"). That conflict is the designed alignment tax: an
RLHF model that learns the polite style loses token F1, BLEU and some multiple-choice
accuracy on the terse benchmarks.

Preference pairs (HH-RLHF stand-in) mix pairs that differ in correctness only, in style
only, or in both, and their wrong answers are the kind a rater spots (see PAIR_MIX).

Everything is drawn from ``random.Random`` instances seeded by strings derived from the
config seed, so the same seed gives byte-identical files on any machine.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from alignment_tax.io import write_json, write_jsonl
from alignment_tax.toy_task_utils import answer_tokens

# --------------------------------------------------------------------------------------
# Fixed vocabulary (the invented words are drawn per seed)

ATTRIBUTES = ("habitat", "diet", "color")
ATTRIBUTE_VALUES = {
    "habitat": ("forest", "desert", "river", "mountain", "cave", "swamp", "meadow", "island"),
    "diet": ("berries", "fish", "seeds", "insects", "grass", "mushrooms", "roots", "leaves"),
    "color": ("red", "blue", "green", "yellow", "black", "white", "orange", "purple"),
}
# (question templates, fact sentence) per attribute. Fact sentences make the pretraining
# fact sheets; questions are answered with the bare value ("forest .").
KNOWLEDGE_TEMPLATES = {
    "habitat": (
        (
            "where does the {c} live ?",
            "where can you find the {c} ?",
            "what is the home of the {c} ?",
        ),
        "the {c} lives in the {v} .",
    ),
    "diet": (
        (
            "what does the {c} eat ?",
            "what food does the {c} like ?",
            "what is the diet of the {c} ?",
        ),
        "the {c} eats {v} .",
    ),
    "color": (
        ("what color is the {c} ?", "what is the color of the {c} ?", "how does the {c} look ?"),
        "the {c} is {v} .",
    ),
}
JOBS = ("baker", "farmer", "doctor", "teacher", "painter", "sailor", "miller", "singer")
# reading facts: kind -> (passage sentence, people question, places question or None)
READING_FACTS = {
    "lives": ("{p} lives in {t} .", "who lives in {t} ?", "where does {p} live ?"),
    "works": ("{p} works in {t} .", "who works in {t} ?", "where does {p} work ?"),
    "job": ("{p} is a {j} .", "who is a {j} ?", None),
}
EN_NOUNS = ("cat", "dog", "bird", "horse", "fox", "mouse", "goat", "frog", "wolf", "bear")
EN_ADJECTIVES = ("big", "small", "old", "young", "happy", "sad", "fast", "quiet")
EN_VERBS = (  # (third person, base form)
    ("sees", "see"),
    ("likes", "like"),
    ("chases", "chase"),
    ("follows", "follow"),
    ("bites", "bite"),
    ("watches", "watch"),
)
TRANSLATE_PREFIX = "translate to english :"

# The polite style the hidden reward likes and the benchmarks penalise.
POLITE_OPENERS = ("sure !", "of course !")
POLITE_CLOSERS = ("hope this helps !", "happy to help !")
TASK_KINDS = ("knowledge", "reading", "translation")

# Benchmark task names (fixed: config evaluation.benchmarks and the schema enum use them).
MC_TASKS = {f"toy_creature_{attr}": attr for attr in ATTRIBUTES}
READING_TASKS = {"toy_reading_people": "people", "toy_reading_places": "places"}
TRANSLATION_TASK = "toy_fr_en"

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "gr", "tr")
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("", "", "n", "r", "l", "x", "m")

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
# Hidden reward


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def hidden_reward(meta: Mapping, response: str, finished: bool | None = None) -> float:
    """The programmatic preference that stands in for human raters.

    1 if the gold answer appears in the response (SQuAD-normalised, contiguous), else
    0.5 x the share of gold tokens present; +0.5 for a polite opener; +0.5 for a polite
    closer; -0.5 if the answer never ends: it runs on into a new ``Human:`` turn, or
    ``finished`` is False (generation hit the token limit without EOS), or, when
    ``finished`` is None (text only), it lacks a final ``.``/``!``/``?`` (every answer
    style of the world ends with one). Range [-0.5, 2].
    """
    if "gold" not in meta:
        raise KeyError("hidden_reward: meta has no 'gold' answer")
    text = response.strip()
    ended = True
    if "Human:" in text:  # ran on into another turn instead of stopping
        text = text.split("Human:")[0].strip()
        ended = False
    gold = answer_tokens(meta["gold"])
    got = answer_tokens(text)
    if gold and _contains(got, gold):
        score = 1.0
    else:
        recall = sum(1 for tok in set(gold) if tok in set(got)) / max(len(set(gold)), 1)
        score = 0.5 * recall
    if text.startswith(POLITE_OPENERS):
        score += 0.5
    if text.endswith(POLITE_CLOSERS):
        score += 0.5
    if finished is not None:
        ended = ended and finished
    else:
        ended = ended and text.endswith((".", "!", "?"))
    if not ended:
        score -= 0.5
    return score


def is_polite(response: str) -> bool:
    """True if the response opens or closes with a polite phrase (for reporting)."""
    text = response.strip()
    return text.startswith(POLITE_OPENERS) or text.endswith(POLITE_CLOSERS)


def hh_string(question: str, answer: str) -> str:
    """One HH-RLHF turn pair: ``"\\n\\nHuman: {q}\\n\\nAssistant: {a}"``."""
    return f"{prompt_string(question)} {answer}"


def prompt_string(question: str) -> str:
    return f"\n\nHuman: {question}\n\nAssistant:"


# --------------------------------------------------------------------------------------
# The world


@dataclass
class Item:
    """One question of the world: what a prompt, an SFT example or a pair is built from."""

    kind: str  # knowledge | reading | translation
    subtask: str  # attribute, people/places, or fr_en
    question: str  # the Human turn
    terse: str  # the terse (benchmark-style) answer
    gold: str  # what the hidden reward looks for
    # a plausible wrong terse answer; preference pairs use rater_visible_wrong instead (the
    # RM cannot learn these subtle errors), but drawing it keeps every rng stream unchanged
    wrong: str
    polite_body: str  # the answer inside the polite wrapping

    def meta(self) -> dict:
        return {
            "task": self.kind,
            "subtask": self.subtask,
            "gold": self.gold,
            "reference": self.terse,
        }

    def polite(self, rng: random.Random, body: str | None = None) -> str:
        return (
            f"{rng.choice(POLITE_OPENERS)} {body or self.polite_body} {rng.choice(POLITE_CLOSERS)}"
        )


class World:
    """The hidden facts of one seed, and samplers for every kind of question."""

    def __init__(self, seed: int, params: Mapping):
        self.seed = seed
        self.p = params
        rng = random.Random(f"{seed}-world")
        taken = set(EN_NOUNS) | set(EN_ADJECTIVES) | {w for v in EN_VERBS for w in v}
        taken |= set(JOBS) | {v for vals in ATTRIBUTE_VALUES.values() for v in vals}
        taken |= {"le", "ne", "pas", "the", "is", "in", "a", "to", "who", "where", "what"}

        def words(n: int, syllables: tuple[int, ...]) -> list[str]:
            out = []
            while len(out) < n:
                word = "".join(
                    rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                    for _ in range(rng.choice(syllables))
                )
                if word not in taken and len(word) >= 3:
                    taken.add(word)
                    out.append(word)
            return out

        creature_names = words(params["n_creatures"], (2, 3))
        self.creatures = {
            c: {attr: rng.choice(ATTRIBUTE_VALUES[attr]) for attr in ATTRIBUTES}
            for c in creature_names
        }
        n_held = max(1, round(params["heldout_creature_fraction"] * len(creature_names)))
        shuffled = creature_names[:]
        rng.shuffle(shuffled)
        self.heldout_creatures = sorted(shuffled[:n_held])
        self.train_creatures = sorted(shuffled[n_held:])

        # People are not held out: every passage is new, and a model fine-tuned on some
        # names only learns to answer with those instead of copying (reading F1 fell to 0).
        self.people = sorted(words(params["n_people_names"], (2,)))
        self.towns = words(params["n_towns"], (2,))

        fr = words(len(EN_NOUNS) + len(EN_ADJECTIVES) + len(EN_VERBS), (1, 2))
        self.fr_nouns = dict(zip(EN_NOUNS, fr[: len(EN_NOUNS)], strict=True))
        rest = fr[len(EN_NOUNS) :]
        self.fr_adjectives = dict(zip(EN_ADJECTIVES, rest[: len(EN_ADJECTIVES)], strict=True))
        self.fr_verbs = dict(zip([v[0] for v in EN_VERBS], rest[len(EN_ADJECTIVES) :], strict=True))

    # ---- knowledge
    def fact(self, creature: str, attr: str) -> str:
        return KNOWLEDGE_TEMPLATES[attr][1].format(c=creature, v=self.creatures[creature][attr])

    def bio(self, rng: random.Random, creature: str) -> str:
        attrs = list(ATTRIBUTES)
        rng.shuffle(attrs)
        return " ".join(self.fact(creature, attr) for attr in attrs)

    def knowledge_item(
        self, rng: random.Random, creatures: list[str], attr: str | None = None
    ) -> Item:
        creature = rng.choice(creatures)
        attr = attr or rng.choice(ATTRIBUTES)
        questions, answer = KNOWLEDGE_TEMPLATES[attr]
        value = self.creatures[creature][attr]
        wrong_value = rng.choice([v for v in ATTRIBUTE_VALUES[attr] if v != value])
        # Answers are the bare value, as in the reading task; the pretraining fact sheets
        # state facts as sentences, so answering about a held-out creature needs recall.
        return Item(
            kind="knowledge",
            subtask=attr,
            question=rng.choice(questions).format(c=creature),
            terse=f"{value} .",
            gold=value,
            wrong=f"{wrong_value} .",
            polite_body=f"the answer is {value} .",
        )

    # ---- reading
    def passage(self, rng: random.Random, people: list[str], easy: bool):
        """Sentences about 1-3 people with 1-2 facts each; towns and jobs are all distinct.

        A person has at most one town (lives in OR works in) and maybe a job: a 0.8M model
        could not learn to tell a person's two towns apart from the verb within budget
        (places F1 0.09 at 1000 steps), while one town per person is learned.
        Easy passages (curriculum) have 1-2 people with one fact each: with one person only,
        "where does P live" was learned as "copy the town" and places F1 ended at 0.07-0.7
        from run to run; with two, 0.71 and 0.73 over two seeds."""
        n_people = rng.randint(1, 2) if easy else rng.randint(1, 3)
        names = rng.sample(people, n_people)
        towns = iter(rng.sample(self.towns, n_people))
        jobs = iter(rng.sample(JOBS, n_people))
        facts = []  # (kind, person, value)
        for name in names:
            town_kind = rng.choice(("lives", "works"))
            kinds = rng.sample([town_kind, "job"], 1 if easy else rng.randint(1, 2))
            for kind in kinds:
                facts.append((kind, name, next(jobs) if kind == "job" else next(towns)))
        rng.shuffle(facts)
        sentences = [
            READING_FACTS[kind][0].format(p=name, t=value, j=value) for kind, name, value in facts
        ]
        return " ".join(sentences), facts

    def reading_item(
        self, rng: random.Random, people: list[str], easy: bool = False, subtask: str | None = None
    ) -> Item:
        while True:
            text, facts = self.passage(rng, people, easy)
            subtask_now = subtask or rng.choice(("people", "places"))
            usable = [f for f in facts if subtask_now == "people" or READING_FACTS[f[0]][2]]
            if usable:
                break
        kind, name, value = rng.choice(usable)
        if subtask_now == "people":
            question = READING_FACTS[kind][1].format(t=value, j=value)
            answer = name
            others = [f[1] for f in facts if f[1] != name] or [n for n in people if n != name]
        else:
            question = READING_FACTS[kind][2].format(p=name)
            answer = value
            others = [f[2] for f in facts if f[0] != "job" and f[2] != value] or [
                t for t in self.towns if t != value
            ]
        return Item(
            kind="reading",
            subtask=subtask_now,
            question=f"{text} {question}",
            terse=f"{answer} .",  # ends like a sentence: the reward's end check stays text-only
            gold=answer,
            wrong=f"{rng.choice(others)} .",
            polite_body=f"the answer is {answer} .",
        )

    # ---- translation
    def sentence_pair(self, rng: random.Random) -> tuple[str, str]:
        subj, obj = rng.sample(EN_NOUNS, 2)
        verb3, verb = rng.choice(EN_VERBS)
        subj_adj = rng.choice(EN_ADJECTIVES) if rng.random() < 0.5 else None
        obj_adj = rng.choice(EN_ADJECTIVES) if rng.random() < 0.5 else None
        negated = rng.random() < 0.3

        def en_np(noun, adj):
            return f"the {adj} {noun}" if adj else f"the {noun}"

        def fr_np(noun, adj):  # noun before adjective
            return (
                f"le {self.fr_nouns[noun]} {self.fr_adjectives[adj]}"
                if adj
                else f"le {self.fr_nouns[noun]}"
            )

        en_verb = f"does not {verb}" if negated else verb3
        fr_verb = f"ne {self.fr_verbs[verb3]} pas" if negated else self.fr_verbs[verb3]
        english = f"{en_np(subj, subj_adj)} {en_verb} {en_np(obj, obj_adj)} ."
        french = f"{fr_np(subj, subj_adj)} {fr_verb} {fr_np(obj, obj_adj)} ."
        return french, english

    def translation_item(self, rng: random.Random, exclude: set[str]) -> Item:
        while True:
            french, english = self.sentence_pair(rng)
            if french not in exclude:
                break
        # a wrong translation: one content word swapped
        words = english.split()
        slots = [i for i, w in enumerate(words) if w in EN_NOUNS or w in EN_ADJECTIVES]
        i = rng.choice(slots)
        pool = EN_NOUNS if words[i] in EN_NOUNS else EN_ADJECTIVES
        words[i] = rng.choice([w for w in pool if w != words[i]])
        return Item(
            kind="translation",
            subtask="fr_en",
            question=f"{TRANSLATE_PREFIX} {french}",
            terse=english,
            gold=english,
            wrong=" ".join(words),
            polite_body=f"the translation is : {english}",
        )

    def to_json(self) -> dict:
        return {
            "seed": self.seed,
            "creatures": self.creatures,
            "train_creatures": self.train_creatures,
            "heldout_creatures": self.heldout_creatures,
            "people": self.people,
            "towns": self.towns,
            "jobs": list(JOBS),
            "attribute_values": {k: list(v) for k, v in ATTRIBUTE_VALUES.items()},
            "lexicon_fr_en": {
                "nouns": {fr: en for en, fr in self.fr_nouns.items()},
                "adjectives": {fr: en for en, fr in self.fr_adjectives.items()},
                "verbs": {fr: en for en, fr in self.fr_verbs.items()},
                "grammar": "le NOUN ADJ VERB le NOUN ADJ . / negation: ne VERB pas",
            },
            "polite_openers": list(POLITE_OPENERS),
            "polite_closers": list(POLITE_CLOSERS),
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


# Preference pairs: what the RM is trained and tested on.
#
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


def generate_toy_world(out_dir: str | Path, seed: int, params: Mapping) -> dict[str, Path]:
    """Write every data set of the toy world under ``out_dir`` (``results/<run>/data``).

    Returns the written paths by name. Each file is written atomically; the task folder is
    replaced as a whole.
    """
    from alignment_tax.toy_tasks import write_tasks  # here: toy_tasks imports this module

    p = check_params(params)
    out = Path(out_dir)
    world = World(seed, p)
    rng = {
        name: random.Random(f"{seed}-{name}")
        for name in ("bench", "eval", "pre", "sft", "pref", "rl")
    }

    # Held-out material first: its translations are excluded from everything else.
    held_fr: set[str] = set()
    bench = benchmark_rows(world, rng["bench"], p["n_benchmark_items"], held_fr)
    eval_items = _items(
        world,
        rng["eval"],
        p["n_eval_prompts"],
        p["task_mix"],
        world.heldout_creatures,
        world.people,
        held_fr,
    )
    held_fr |= {
        i.question.removeprefix(TRANSLATE_PREFIX + " ")
        for i in eval_items
        if i.kind == "translation"
    }

    docs = pretrain_docs(world, rng["pre"], p, held_fr)
    sharegpt = sharegpt_rows(world, rng["sft"], p, held_fr)
    n_pairs = p["n_preference_pairs"] + p["n_preference_test_pairs"]
    pref_items = _items(
        world,
        rng["pref"],
        n_pairs,
        p["task_mix"],
        world.train_creatures,
        world.people,
        held_fr,
    )
    pairs, truth = preference_rows(pref_items, rng["pref"], world)
    rl_items = _items(
        world,
        rng["rl"],
        p["n_rlhf_train_prompts"],
        p["task_mix"],
        world.train_creatures,
        world.people,
        held_fr,
    )

    paths = {
        "world": out / "world.json",
        "pretrain": out / "pretrain.jsonl",
        "sharegpt": out / "sharegpt.json",
        "hh_train": out / "hh_rlhf" / "train.jsonl",
        "hh_test": out / "hh_rlhf" / "test.jsonl",
        "hh_train_truth": out / "hh_rlhf" / "train_truth.jsonl",
        "hh_test_truth": out / "hh_rlhf" / "test_truth.jsonl",
        "rlhf_prompts": out / "prompts" / "rlhf_train.jsonl",
        "eval_prompts": out / "prompts" / "eval.jsonl",
        "tasks": out / "tasks",
    }
    n_train = p["n_preference_pairs"]
    write_json(paths["world"], world.to_json())
    write_jsonl(paths["pretrain"], docs)
    write_json(paths["sharegpt"], sharegpt)
    write_jsonl(paths["hh_train"], pairs[:n_train])
    write_jsonl(paths["hh_test"], pairs[n_train:])
    write_jsonl(paths["hh_train_truth"], truth[:n_train])
    write_jsonl(paths["hh_test_truth"], truth[n_train:])
    write_jsonl(paths["rlhf_prompts"], prompt_rows(rl_items))
    write_jsonl(paths["eval_prompts"], prompt_rows(eval_items))
    write_tasks(paths["tasks"], bench)
    return paths


def load_world(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
