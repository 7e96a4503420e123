"""Answer-level metrics and the aggregation of per-task scores into the paper's categories.

- Token F1 / exact match follow the official SQuAD evaluation script (v1.1 and v2.0):
  lower case, drop punctuation and the articles a/an/the, squash white space; F1 over the
  bag of tokens, maximised over the gold answers; an unanswerable question (no gold) is
  scored against the empty answer. No library ships these as plain functions without a
  hub download (``evaluate.load("squad_v2")`` fetches its script), so they are written here.
- BLEU is sacrebleu's corpus BLEU with its default settings (the same call lm-eval makes for
  its ``bleu`` metric); the signature is returned so results say exactly how it was computed.
- Categories (paper, section 3): Reading = mean F1 of its tasks, Common Sense = mean
  accuracy of its tasks, Translation = BLEU. The category value is the unweighted mean of
  the task values; its standard error treats the tasks as independent samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

# One SQuAD normalisation and single-gold token F1 for the whole project: the toy tasks'
# utils.py must stay self-contained (lm-eval imports it from the task folder), so the
# definitions live there.
from alignment_tax.toy_task_utils import normalize_answer
from alignment_tax.toy_task_utils import token_f1 as _f1_one


def _golds(golds: str | Sequence[str]) -> list[str]:
    if isinstance(golds, str):
        golds = [golds]
    # SQuAD v2: a question without gold answers is scored against the empty string
    return [g for g in golds if normalize_answer(g)] or [""]


def token_f1(prediction: str, golds: str | Sequence[str]) -> float:
    """SQuAD token F1 of one prediction, maximised over the gold answers (0..1)."""
    return max(_f1_one(prediction, g) for g in _golds(golds))


def exact_match(prediction: str, golds: str | Sequence[str]) -> float:
    """SQuAD exact match after normalisation, maximised over the gold answers (0 or 1)."""
    pred = normalize_answer(prediction)
    return max(float(pred == normalize_answer(g)) for g in _golds(golds))


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """Corpus BLEU (0..100) of one reference per hypothesis, and sacrebleu's signature."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    metric = sacrebleu.BLEU()
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return float(score.score), str(metric.get_signature())


def bleu_signature() -> str:
    """Signature of sacrebleu's default corpus BLEU, which lm-eval's ``bleu`` metric uses."""
    import sacrebleu

    metric = sacrebleu.BLEU()
    # sacrebleu knows the reference count (part of the signature) only after one call
    metric.corpus_score(["x"], [["x"]])
    return str(metric.get_signature())


def mean_stderr(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, standard error of the mean (sample std / sqrt(n)) and n."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return math.nan, math.nan, 0
    mean = sum(values) / n
    if n == 1:
        return mean, math.nan, 1
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n), n


def aggregate_category(task_scores: Sequence[dict]) -> dict:
    """Unweighted mean of task scores ({"value", "stderr", "n"}) as one category score.

    stderr = sqrt(sum stderr_i^2) / k: the standard error of a mean of k independent
    estimates. It is NaN when any task lacks a standard error. n is the total item count.
    """
    if not task_scores:
        raise ValueError("no task scores to aggregate")
    k = len(task_scores)
    value = sum(float(t["value"]) for t in task_scores) / k
    errors = [t.get("stderr") for t in task_scores]
    if any(e is None or not math.isfinite(float(e)) for e in errors):
        stderr = math.nan
    else:
        stderr = math.sqrt(sum(float(e) ** 2 for e in errors)) / k
    n = sum(int(t.get("n") or 0) for t in task_scores)
    return {"value": value, "stderr": stderr, "n": n, "n_tasks": k}
