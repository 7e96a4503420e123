"""lm-eval task definitions for the toy world's three benchmark suites.

``write_tasks`` writes, into one folder: a JSONL of items and a YAML per task, plus
``utils.py`` (a verbatim copy of ``alignment_tax/toy_task_utils.py``: the dataset loader and
token F1). The YAMLs contain no file paths: they load their JSONL through
``custom_dataset: !function utils.load_split``, which finds it next to ``utils.py``. So the
folder works from any working directory and can be moved or copied.

Loading them (evaluation)::

    from lm_eval.tasks import TaskManager
    folder = task_include_dir("results/toy/data/tasks")
    tm = TaskManager(include_path=folder, include_defaults=False)
    lm = HFLM(pretrained=model, tokenizer=tok)
    lm_eval.simple_evaluate(model=lm, tasks=list(TASK_NAMES), task_manager=tm)

Metrics: multiple choice ``acc`` (log-likelihood of each of the 4 attribute words); reading
``f1`` (SQuAD token F1, mean over items); translation ``bleu`` (lm-eval's corpus sacreBLEU).
All prompts are in the chat format and end with ``"\\n\\nAssistant:"``; generation is greedy
until a newline, so a chatty answer costs F1 and BLEU.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from alignment_tax.io import atomic_dir
from alignment_tax.toy_world_facts import MC_TASKS, READING_TASKS, TRANSLATION_TASK

TASK_NAMES = (*MC_TASKS, *READING_TASKS, TRANSLATION_TASK)
MAX_GEN_TOKS = 48

_HEADER = """\
# Written by alignment_tax.toy_tasks (toy world benchmark); do not edit by hand.
task: {task}
custom_dataset: !function utils.load_split
dataset_kwargs:
  task_file: {task}.jsonl
test_split: test
doc_to_text: prompt
"""

_MC = """\
output_type: multiple_choice
doc_to_choice: choices
doc_to_target: label
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""

_GEN = """\
output_type: generate_until
doc_to_target: answer
generation_kwargs:
  until: ["\\n"]
  do_sample: false
  max_gen_toks: {max_gen_toks}
{metrics}
metadata:
  version: 1.0
"""

_F1 = """\
process_results: !function utils.process_results_f1
metric_list:
  - metric: f1
    aggregation: mean
    higher_is_better: true"""

_BLEU = """\
metric_list:
  - metric: bleu
    aggregation: bleu
    higher_is_better: true"""


def task_yaml(task: str) -> str:
    if task in MC_TASKS:
        body = _MC
    elif task in READING_TASKS:
        body = _GEN.format(max_gen_toks=MAX_GEN_TOKS, metrics=_F1)
    elif task == TRANSLATION_TASK:
        body = _GEN.format(max_gen_toks=MAX_GEN_TOKS, metrics=_BLEU)
    else:
        raise ValueError(f"unknown toy task {task!r}; known: {TASK_NAMES}")
    return _HEADER.format(task=task) + body


def write_tasks(tasks_dir: str | Path, rows: Mapping[str, list[dict]]) -> None:
    """Write the task folder atomically (it replaces any old one as a whole)."""
    import json

    missing = set(TASK_NAMES) - set(rows)
    if missing:
        raise ValueError(f"write_tasks: no items for {sorted(missing)}")
    utils_src = Path(__file__).with_name("toy_task_utils.py").read_text(encoding="utf-8")
    with atomic_dir(tasks_dir) as tmp:
        (tmp / "utils.py").write_text(utils_src, encoding="utf-8")
        for task in TASK_NAMES:
            lines = [json.dumps(r, sort_keys=True) for r in rows[task]]
            (tmp / f"{task}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
            (tmp / f"{task}.yaml").write_text(task_yaml(task), encoding="utf-8")


def task_include_dir(tasks_dir: str | Path) -> str:
    """The absolute folder to pass as ``TaskManager(include_path=...)``.

    The YAMLs carry no paths (see module doc), so this only resolves the folder and checks
    that every task file is there, failing with the missing file's name.
    """
    folder = Path(tasks_dir).resolve()
    for name in ("utils.py", *(f"{t}.{ext}" for t in TASK_NAMES for ext in ("yaml", "jsonl"))):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"toy task folder {folder} lacks {name}")
    return str(folder)


def benchmark_groups() -> dict[str, list[str]]:
    """Task names by benchmark category (the paper's Common Sense / Reading / Translation)."""
    return {
        "common_sense": list(MC_TASKS),
        "reading": list(READING_TASKS),
        "translation": [TRANSLATION_TASK],
    }
