"""The toy world's hidden reward: the programmatic preference that plays the role of human
raters. It likes correct answers wrapped politely ("sure ! ... hope this helps !"), which the
terse benchmarks penalise: the designed alignment tax (see alignment_tax.toy_world).
"""

from __future__ import annotations

from collections.abc import Mapping

from alignment_tax.toy_task_utils import answer_tokens

# The polite style the hidden reward likes and the benchmarks penalise.
POLITE_OPENERS = ("sure !", "of course !")
POLITE_CLOSERS = ("hope this helps !", "happy to help !")


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
