"""AdaMerging's labelled reading data on the paper's path (stages.toy_world false): SQuAD v2
rows of its TRAIN split (config ``datasets.squadv2_train``), written in the rows of the toy
world's fit data (alignment_tax.adamerging.reading_fit_rows), which fit_adamerging reads.

lm-eval's squadv2 task evaluates SQuAD v2's validation split; SQuAD splits its Wikipedia
articles between train and validation, so no fit item is an evaluated one, and fig15's
Reading scores are measured on items the fit did not use. (A module of its own, so the toy
world's AdaMerging rules, which never read SQuAD, keep their code fingerprints.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

# SQuAD v2's fields (rajpurkar/squad_v2; lm-eval's squadv2 task reads the same schema)
SQUAD_FIELDS = ("id", "title", "context", "question", "answers")


def squadv2_fit_rows(
    spec: dict,
    n: int,
    seed: int,
    *,
    key: str = "datasets.squadv2_train",
    evaluated_files: Sequence[str | Path] = (),
) -> list[dict]:
    """``n`` labelled reading items (rows ``{"id", "task", "prompt", "answer"}``, as
    ``reading_fit_rows``), a seeded draw from SQuAD v2 rows of one split: the hub copy
    (``spec`` = {hub_id: rajpurkar/squad_v2, split: train}) or a local file in its schema
    (``local_files``), read by hub_data.load_hub_dataset like every other data set.

    Prompt and answer are lm-eval's squadv2 task's own (``doc_to_text``, ``doc_to_target``:
    an unanswerable question's label is " unanswerable"), so the fit reads the prompt the
    benchmark scores. The train split shares no item with the validation split lm-eval
    evaluates (SQuAD splits by Wikipedia article); ``evaluated_files``, local copies of the
    evaluated items (evaluation.local_task_data.squadv2), are checked too: a shared
    (context, question) stops the fit. A row without one of SQUAD_FIELDS names the source
    and the field.
    """
    from lm_eval.tasks.squadv2.task import SQuAD2

    from alignment_tax.hub_data import dataset_source, load_hub_dataset
    from alignment_tax.io import read_jsonl

    rows = load_hub_dataset(spec, key)
    source = dataset_source(spec)
    missing = [f for f in SQUAD_FIELDS if f not in rows.column_names]
    if missing:
        raise ValueError(
            f"{source} (config key '{key}'): no field {missing[0]!r} in its rows; "
            f"SQuAD v2's fields are {list(SQUAD_FIELDS)}"
        )
    for i, row in enumerate(rows):
        answers = row["answers"]
        absent = [f for f in SQUAD_FIELDS if row[f] is None]
        if not absent and not (isinstance(answers, dict) and isinstance(answers.get("text"), list)):
            absent = ["answers.text"]
        if absent:
            raise ValueError(
                f"{source} (config key '{key}'): row {i} (0-based) has no field {absent[0]!r}"
            )
    if n > len(rows):
        raise ValueError(
            f"config key 'merging.adamerging.n_train_samples' ({n}) exceeds the "
            f"{len(rows)} rows of {source}"
        )
    evaluated = {
        (r["context"], r["question"])
        for path in evaluated_files
        for r in read_jsonl(path, required=("context", "question"))
    }
    shared = (
        [r["id"] for r in rows if (r["context"], r["question"]) in evaluated] if evaluated else []
    )
    if shared:
        raise ValueError(
            f"{source} (config key '{key}') shares {len(shared)} items with the "
            f"evaluated squadv2 items {list(map(str, evaluated_files))} (first id "
            f"{shared[0]!r}): AdaMerging must not fit on evaluated items"
        )
    # an instance without __init__, which would fetch lighteval/squad_v2 from the hub:
    # doc_to_text and doc_to_target read only the row
    task = SQuAD2.__new__(SQuAD2)
    drawn = rows.shuffle(seed=seed).select(range(n))
    return [
        {
            "id": str(row["id"]),
            "task": "squadv2",
            "prompt": task.doc_to_text(row),
            "answer": task.doc_to_target(row),
        }
        for row in drawn
    ]
