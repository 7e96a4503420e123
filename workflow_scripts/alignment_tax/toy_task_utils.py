"""Helpers for the toy world's lm-eval tasks; copied verbatim into data/tasks/utils.py.

lm-eval imports ``utils.py`` from the folder of a task YAML (``!function utils.name``), so
this module must stay self-contained: standard library and ``datasets`` only.

- ``load_split``: the tasks' ``custom_dataset``. It reads the task's JSONL next to this
  file, so the YAMLs hold no path and load from any working directory.
- ``process_results_f1``: SQuAD-style token F1 for the reading tasks. lm-eval's built-in
  ``f1`` metric is classification F1 (sklearn), not the overlap F1 of extractive QA.
"""

from __future__ import annotations

import collections
import json
import os
import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and articles, squash spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def token_f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 between a prediction and one gold answer (SQuAD v1.1 definition)."""
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    if not pred or not ref:
        return float(pred == ref)
    common = collections.Counter(pred) & collections.Counter(ref)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred), overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


def process_results_f1(doc: dict, results: list[str]) -> dict[str, float]:
    return {"f1": token_f1(results[0], doc["answer"])}


def load_split(task_file: str, split: str = "test", **_metadata):
    """Load ``task_file`` (a JSONL in this folder) as a DatasetDict with one split."""
    import datasets

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), task_file)
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return datasets.DatasetDict({split: datasets.Dataset.from_list(rows)})
