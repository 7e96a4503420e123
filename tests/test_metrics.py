"""SQuAD token F1 / exact match, BLEU and category aggregation on hand-written cases."""

import math

import pytest
from alignment_tax.metrics import (
    aggregate_category,
    bleu,
    bleu_signature,
    exact_match,
    mean_stderr,
    normalize_answer,
    token_f1,
)


def test_squad_normalisation():
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert normalize_answer("An apple a day") == "apple day"
    # articles only as whole words; punctuation removed before splitting
    assert normalize_answer("Theatre") == "theatre"
    assert normalize_answer("a-b") == "ab"


def test_token_f1_hand_cases():
    # identical after normalisation
    assert token_f1("The cat.", "cat") == 1.0
    # pred "cat sat mat" vs gold "cat on mat": overlap 2, P = R = 2/3
    assert token_f1("the cat sat on the mat", "cat on mat") == pytest.approx(
        2 * (3 / 4) * 1.0 / (3 / 4 + 1.0)
    )
    assert token_f1("red fox", "blue whale") == 0.0
    # token counts matter: "a a b" vs "a b" -> overlap 2 of 3 predicted (normalised: no articles)
    assert token_f1("x x y", "x y") == pytest.approx(2 * (2 / 3) * 1.0 / (2 / 3 + 1))
    # best over several gold answers
    assert token_f1("Paris", ["London", "paris"]) == 1.0


def test_squad_v2_unanswerable():
    # no gold answer: only the empty prediction scores
    assert token_f1("", []) == 1.0
    assert token_f1("something", []) == 0.0
    assert exact_match("", []) == 1.0
    assert token_f1("", "gold") == 0.0


def test_exact_match():
    assert exact_match("The Eiffel Tower!", "eiffel tower") == 1.0
    assert exact_match("Eiffel", "eiffel tower") == 0.0


def test_bleu_matches_sacrebleu_and_has_signature():
    import sacrebleu

    hyps = ["the cat sat on the mat", "a quick brown dog"]
    refs = ["the cat sat on the mat", "the quick brown fox"]
    score, signature = bleu(hyps, refs)
    assert score == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert bleu(refs, refs)[0] == pytest.approx(100.0)
    assert "tok:13a" in signature and "nrefs:1" in signature
    assert signature == bleu_signature()
    with pytest.raises(ValueError):
        bleu(["a"], ["a", "b"])


def test_mean_stderr():
    mean, stderr, n = mean_stderr([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3)
    assert stderr == pytest.approx(1.0 / math.sqrt(3))
    assert math.isnan(mean_stderr([5.0])[1])


def test_category_aggregation():
    cat = aggregate_category([
        {"value": 0.5, "stderr": 0.03, "n": 100},
        {"value": 0.7, "stderr": 0.04, "n": 50},
    ])
    assert cat["value"] == pytest.approx(0.6)
    assert cat["stderr"] == pytest.approx(0.05 / 2)
    assert cat["n"] == 150 and cat["n_tasks"] == 2
    assert math.isnan(aggregate_category([{"value": 1, "stderr": None, "n": 1}])["stderr"])
    with pytest.raises(ValueError):
        aggregate_category([])


@pytest.mark.parametrize("pred,gold", [
    ("the cat sat", "cat"), ("A fox.", "the fox"), ("", ""), ("blue whale", "whale blue"),
    ("sure ! the gupo . hope this helps !", "gupo"), ("x", ""),
])
def test_toy_task_f1_agrees_with_squad_f1(pred, gold):
    # the toy reading tasks score with their own copy (toy_task_utils, loaded by lm-eval)
    from alignment_tax.toy_task_utils import token_f1 as toy_f1

    assert toy_f1(pred, gold) == pytest.approx(token_f1(pred, gold if gold else [gold]))
