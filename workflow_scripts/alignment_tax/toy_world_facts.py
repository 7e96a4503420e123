"""The toy world's language and hidden facts (``World``), and the samplers of its questions
(``Item``), drawn per seed:

- knowledge: invented creatures, each with a habitat, a diet and a colour. Facts about every
  creature are in the pretraining corpus; a held-out share of the creatures never appears in
  SFT, preference or RLHF data and is what the multiple-choice benchmarks ask about.
- reading: short passages about invented people (1-3 people, 1-2 facts each) followed by a
  question whose answer is a span of the passage (a name or a town).
- translation: an invented French (its own words, noun-adjective order, ``ne V pas``) to
  English.

Word-level, all lower case, punctuation as separate words. Questions are shown to a model
as HH-RLHF turns (``prompt_string``, ``hh_string``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from alignment_tax.toy_reward import POLITE_CLOSERS, POLITE_OPENERS

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

# Benchmark task names (fixed: config evaluation.benchmarks and the schema enum use them).
MC_TASKS = {f"toy_creature_{attr}": attr for attr in ATTRIBUTES}
READING_TASKS = {"toy_reading_people": "people", "toy_reading_places": "places"}
TRANSLATION_TASK = "toy_fr_en"

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "gr", "tr")
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("", "", "n", "r", "l", "x", "m")


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
    # a plausible wrong terse answer; preference pairs use toy_preferences.rater_visible_wrong
    # instead (the RM cannot learn these subtle errors), but drawing it keeps every rng
    # stream unchanged
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
