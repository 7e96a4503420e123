"""The alignment tax: lm-eval benchmarks run on a model held in memory.

One call of ``lm_eval.simple_evaluate`` per (model, benchmark category), 0-shot, greedy
decoding for generation tasks, with ``HFLM(pretrained=<model object>)`` so merged models
built from a recipe are never written to disk. The toy tasks and the paper's tasks take
the same code path; only the task names and the TaskManager's search path differ:

- toy tasks: ``TaskManager(include_path=<data/tasks>, include_defaults=False)``;
- real tasks: lm-eval's built-in tasks plus ``lm_eval_tasks/`` next to this file, which
  holds ``squadv2_tokf1``: lm-eval's squadv2 scored by our SQuAD token F1, because the
  built-in squadv2 scores through ``evaluate.load("squad_v2")`` (a hub download). The
  config keeps the name ``squadv2``; results are reported under that name;
- real tasks on local files (``evaluation.local_task_data``): the same definitions, with
  the data set replaced by a local JSONL file in its schema (``write_local_task_yamls``).

Each task yields its category's metric (accuracy, F1 or BLEU), its standard error and the
number of items; the category score is their unweighted mean (alignment_tax.metrics).
Per item (``item_scores``, from lm-eval's logged samples): the item's accuracy or F1, and
for BLEU the item's sacreBLEU sufficient statistics (n-gram matches and totals, lengths),
which add up over items to the corpus BLEU; the bootstrap of ``alignment_tax.paper_claims``
resamples them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from alignment_tax.io import read_jsonl, write_text
from alignment_tax.metrics import aggregate_category, bleu_signature

logger = logging.getLogger(__name__)

# Metric reported per category, as in the paper: accuracy, F1 (SQuAD/DROP style), BLEU.
CATEGORY_METRIC = {"common_sense": "acc", "reading": "f1", "translation": "bleu"}
CATEGORIES = tuple(CATEGORY_METRIC)

# Config task name -> the task actually run (and why: see the module docstring).
TASK_SUBSTITUTES = {"squadv2": "squadv2_tokf1"}
LOCAL_TASKS_DIR = Path(__file__).resolve().parent / "lm_eval_tasks"


def metric_for(category: str) -> str:
    if category not in CATEGORY_METRIC:
        raise ValueError(f"unknown benchmark category '{category}'; expected one of {CATEGORIES}")
    return CATEGORY_METRIC[category]


def make_task_manager(task_dir: str | Path | None):
    """TaskManager for our local toy tasks (``task_dir``) or for lm-eval's real tasks."""
    from lm_eval.tasks import TaskManager

    if task_dir is not None:
        task_dir = Path(task_dir).resolve()
        if not task_dir.is_dir():
            raise FileNotFoundError(f"benchmark task folder not found: {task_dir}")
        # include_defaults=False: scanning lm-eval's ~10k built-in YAMLs costs seconds
        return TaskManager(include_path=str(task_dir), include_defaults=False)
    return TaskManager(include_path=str(LOCAL_TASKS_DIR))


# lm-eval's real task definitions that can run on a local copy of their data
# (evaluation.local_task_data): config name -> (task YAML, "lm_eval" = under lm-eval's
# tasks/ or "local" = under LOCAL_TASKS_DIR; the split the task reads; the fields its
# prompt and scorer read from a row, i.e. the hub data set's schema).
REAL_TASKS = {
    "arc_easy": ("lm_eval", "arc/arc_easy.yaml", "test",
                 ("id", "question", "choices", "answerKey")),
    "arc_challenge": ("lm_eval", "arc/arc_challenge.yaml", "test",
                      ("id", "question", "choices", "answerKey")),
    "race": ("lm_eval", "race/race.yaml", "test", ("article", "problems")),
    "piqa": ("lm_eval", "piqa/piqa.yaml", "test", ("goal", "sol1", "sol2", "label")),
    "drop": ("lm_eval", "drop/default.yaml", "test",
             ("query_id", "passage", "question", "answer", "validated_answers")),
    "wmt14-fr-en": ("lm_eval", "translation/wmt14_fr-en.yaml", "test", ("translation",)),
    # lm-eval's squadv2 is a Python task that ignores its YAML and scores through the hub
    # (evaluate.load); its token-F1 substitute reads the YAML's data set keys
    "squadv2": ("local", "squadv2_tokf1/squadv2_tokf1.yaml", "validation",
                ("id", "title", "context", "question", "answers")),
}
LOCAL_TASK_PREFIX = "local_"


def _check_local_task_file(task: str, path: Path, fields: tuple[str, ...]) -> None:
    key = f"evaluation.local_task_data.{task}"
    if not path.is_file():
        raise FileNotFoundError(f"config key '{key}': no such file {path}")
    try:
        rows = read_jsonl(path, required=fields)
    except ValueError as err:
        raise ValueError(
            f"config key '{key}': {err}; {task} rows need {list(fields)} (the hub data set's "
            "schema)"
        ) from None
    n_rows = len(rows)
    if n_rows == 0:
        raise ValueError(f"config key '{key}': {path} has no rows")


def check_local_task_data(task_files: Mapping[str, str | Path]) -> None:
    """Every task has a local-data definition and its file holds rows in the data set's
    schema (the fields the task reads); errors name the config key."""
    for task, data_file in task_files.items():
        if task not in REAL_TASKS:
            raise KeyError(
                f"config key 'evaluation.local_task_data': no local-data definition for task "
                f"'{task}' (supported: {sorted(REAL_TASKS)})"
            )
        _check_local_task_file(task, Path(data_file), REAL_TASKS[task][3])


def write_local_task_yamls(task_files: Mapping[str, str | Path], out_dir: str | Path
                           ) -> dict[str, str]:
    """Write one task YAML per task that runs lm-eval's own definition of the task (prompt,
    requests, metrics) on a local JSONL file in the data set's schema; return
    {config task name: name of the task to run}.

    Each YAML ``include:``s the real task's YAML by absolute path (lm-eval resolves its
    ``!function`` helpers next to that file), names a new task (``local_<name>``, no tag,
    so it never clashes with the built-in one) and replaces the data set: lm-eval's
    ``load_dataset(path, name, **dataset_kwargs)`` becomes ``load_dataset("json",
    data_files={<split>: <file>})``, the only split kept. Rows are checked for the fields
    the task reads before anything runs. Paths are absolute, so the YAMLs hold only in the
    environment that wrote them: write them in the evaluating process. With
    ``num_fewshot`` > 0 the examples come from the same file (lm-eval's rule for a task
    without training and validation splits).
    """
    import lm_eval.tasks
    import yaml

    lm_eval_tasks_dir = Path(lm_eval.tasks.__file__).resolve().parent
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_local_task_data(task_files)
    run_names = {}
    for task, data_file in task_files.items():
        source, yaml_path, split, _ = REAL_TASKS[task]
        data_file = Path(data_file).resolve()
        base = (lm_eval_tasks_dir if source == "lm_eval" else LOCAL_TASKS_DIR) / yaml_path
        run_name = f"{LOCAL_TASK_PREFIX}{task}"
        spec = {
            "include": str(base),
            "task": run_name,
            "tag": None,
            "dataset_path": "json",
            "dataset_name": None,
            "dataset_kwargs": {"data_files": {split: str(data_file)}},
            "training_split": None,
            "validation_split": None,
            "test_split": None,
            "fewshot_split": None,  # wmt's names "validation", absent here
        }
        spec[f"{split}_split"] = split
        write_text(out_dir / f"{run_name}.yaml", yaml.safe_dump(spec, sort_keys=False))
        run_names[task] = run_name
    return run_names


def local_task_files(tasks: list[str], data_dir: str | Path) -> dict[str, Path]:
    """{task: <data_dir>/<task>.jsonl} for tasks with a local-data definition (the layout
    alignment_tax.real_schema_fixtures writes under fixtures/benchmarks/)."""
    return {t: Path(data_dir) / f"{t}.jsonl" for t in tasks if t in REAL_TASKS}


def resolve_tasks(tasks: list[str], task_dir: str | Path | None,
                  local_task_data: Mapping[str, str | Path] | None):
    """(TaskManager, names of the tasks to run, temporary folder of the local-data YAMLs or
    None). Keep the folder object alive until lm-eval has loaded the tasks: it is removed
    when the object is garbage-collected."""
    from lm_eval.tasks import TaskManager

    local = {t: local_task_data[t] for t in tasks if t in (local_task_data or {})}
    redirects = None
    if local:
        if task_dir is not None:
            raise ValueError(
                "evaluation.local_task_data runs lm-eval's real tasks on local files; it does "
                "not apply to the toy world's task folder"
            )
        redirects = tempfile.TemporaryDirectory(prefix="local_tasks_")
        renamed = write_local_task_yamls(local, redirects.name)
        run_names = [renamed.get(t) or TASK_SUBSTITUTES.get(t, t) for t in tasks]
        if len(local) == len(tasks):  # no built-in task needed: skip indexing lm-eval's
            task_manager = TaskManager(include_path=redirects.name, include_defaults=False)
        else:
            task_manager = TaskManager(include_path=[redirects.name, str(LOCAL_TASKS_DIR)])
    else:
        task_manager = make_task_manager(task_dir)
        run_names = [t if task_dir is not None else TASK_SUBSTITUTES.get(t, t) for t in tasks]
    missing = [t for t in run_names if t not in task_manager.all_tasks]
    if missing:
        where = task_dir if task_dir is not None else "lm-eval's task registry"
        raise KeyError(f"benchmark task(s) {missing} not found in {where}")
    return task_manager, run_names, redirects


@contextlib.contextmanager
def _without_env_report() -> Iterator[None]:
    """Skip lm-eval's environment report for one ``simple_evaluate`` call.

    simple_evaluate always ends with ``add_env_info``, which runs torch's collect_env
    (``pip list``, ``nvidia-smi`` and more, in subprocesses): ~0.3 s per call, a quarter
    of a toy evaluation job, and lm-eval has no switch for it. Its text is not kept in our
    results, which record the library versions themselves.
    """
    import lm_eval.evaluator

    original = lm_eval.evaluator.add_env_info
    lm_eval.evaluator.add_env_info = lambda storage: None
    try:
        yield
    finally:
        lm_eval.evaluator.add_env_info = original


def run_tasks(
    model,
    tokenizer,
    tasks: list[str],
    *,
    task_dir: str | Path | None = None,
    local_task_data: Mapping[str, str | Path] | None = None,
    batch_size: int = 8,
    num_fewshot: int = 0,
    limit: int | None = None,
    seed: int = 0,
    bootstrap_iters: int = 1000,
    max_length: int | None = None,
    max_gen_toks: int | None = None,
) -> dict[str, Any]:
    """Run lm-eval on an in-memory model; return lm-eval's results dict (serialisable).

    ``tasks`` are config names; substitutes (TASK_SUBSTITUTES) are run in their place when
    the real tasks are used, and their results are renamed back. ``local_task_data``
    ({task: JSONL file}) runs those real tasks on local files (write_local_task_yamls).
    """
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.utils import handle_non_serializable

    if not tasks:
        raise ValueError("no benchmark tasks given")
    # redirects: the local-data task YAMLs' folder, removed when run_tasks returns
    task_manager, run_names, redirects = resolve_tasks(tasks, task_dir, local_task_data)

    if tokenizer.pad_token_id is None:
        raise ValueError("tokenizer has no pad token; lm-eval batches need one")
    model.eval()
    hflm_kwargs = {"pretrained": model, "tokenizer": tokenizer, "batch_size": batch_size}
    if max_length is not None:
        hflm_kwargs["max_length"] = max_length
    lm = HFLM(**hflm_kwargs)

    with _without_env_report():
        results = lm_eval.simple_evaluate(
            model=lm,
            tasks=run_names,
            num_fewshot=num_fewshot,
            limit=limit,
            task_manager=task_manager,
            # greedy decoding for every generation task (the authors' setting); the answer
            # length bound is a generation kwarg (HFLM's own max_gen_toks is a fixed 256)
            gen_kwargs={"do_sample": False, "temperature": 0.0,
                        **({"max_gen_toks": max_gen_toks} if max_gen_toks else {})},
            bootstrap_iters=bootstrap_iters,
            log_samples=True,  # per-item metrics for item_scores; the scores are unchanged
            random_seed=seed,
            numpy_random_seed=seed,
            torch_random_seed=seed,
            fewshot_random_seed=seed,
        )
    # results hold torch dtypes and other objects: round-trip through JSON the lm-eval way
    results = json.loads(json.dumps(results, default=handle_non_serializable))
    rename = {run: name for run, name in zip(run_names, tasks, strict=True) if run != name}
    for key in ("results", "n-samples", "configs", "versions", "higher_is_better", "n-shot",
                "samples"):
        section = results.get(key) or {}
        for run, name in rename.items():
            if run in section:
                section[name] = section.pop(run)
    return results


def _as_float(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):  # lm-eval writes "N/A" where it has no stderr
        return math.nan
    return value


def extract_task_scores(results: dict[str, Any], tasks: list[str], metric: str) -> dict[str, dict]:
    """Per task: {"metric", "value", "stderr", "n"} from an lm-eval results dict."""
    scores = {}
    for task in tasks:
        task_results = results["results"].get(task)
        if task_results is None:
            raise KeyError(f"lm-eval returned no results for task '{task}'")
        key = f"{metric},none"
        if key not in task_results:
            available = sorted(k for k in task_results if "," in k)
            raise KeyError(f"task '{task}' has no metric '{key}' (has {available})")
        n_samples = (results.get("n-samples") or {}).get(task) or {}
        scores[task] = {
            "metric": metric,
            "value": _as_float(task_results[key]),
            "stderr": _as_float(task_results.get(f"{metric}_stderr,none")),
            "n": int(n_samples.get("effective", n_samples.get("original", 0)) or 0),
        }
    return scores


BLEU_STAT_COLUMNS = ("sys_len", "ref_len", *(f"correct_{n}" for n in range(1, 5)),
                     *(f"total_{n}" for n in range(1, 5)))
ITEM_COLUMNS = ("task", "doc_id", "metric", "value", *BLEU_STAT_COLUMNS)


def bleu_item_stats(reference, prediction) -> dict[str, int]:
    """sacreBLEU's sufficient statistics of one (reference(s), prediction) item, formatted
    as lm-eval's ``bleu`` aggregation formats them, so that their sum over items gives
    lm-eval's corpus BLEU (``sacrebleu.BLEU.compute_bleu``)."""
    import sacrebleu
    from lm_eval.api.metrics import _sacreformat

    refs, preds = _sacreformat([reference], [prediction])
    score = sacrebleu.BLEU().corpus_score(preds, refs)
    stats = {"sys_len": int(score.sys_len), "ref_len": int(score.ref_len)}
    for n in range(4):
        stats[f"correct_{n + 1}"] = int(score.counts[n])
        stats[f"total_{n + 1}"] = int(score.totals[n])
    return stats


def item_scores(results: dict[str, Any], tasks: list[str], metric: str) -> list[dict]:
    """One row per (task, item) from lm-eval's logged samples (``log_samples=True``): the
    item's ``metric`` value (accuracy, F1), or for BLEU its sufficient statistics."""
    samples = results.get("samples") or {}
    rows = []
    for task in tasks:
        if task not in samples:
            raise KeyError(f"lm-eval logged no samples for task '{task}'")
        for sample in sorted(samples[task], key=lambda s: s["doc_id"]):
            if metric not in sample:
                raise KeyError(f"task '{task}': logged sample has no metric '{metric}'")
            row = {"task": task, "doc_id": int(sample["doc_id"]), "metric": metric}
            if metric == "bleu":
                reference, prediction = sample[metric]
                row.update(value=math.nan, **bleu_item_stats(reference, prediction))
            else:
                row["value"] = _as_float(sample[metric])
            rows.append(row)
    return rows


def write_item_scores(rows: list[dict], path: str | Path) -> None:
    """The per-item sidecar of one evaluation job (CSV, columns ITEM_COLUMNS)."""
    import pandas as pd

    from alignment_tax.io import atomic_path

    frame = pd.DataFrame(rows, columns=list(ITEM_COLUMNS))
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _library_versions() -> dict[str, str]:
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__}


def evaluate_category(
    model,
    tokenizer,
    category: str,
    tasks: list[str],
    *,
    task_dir: str | Path | None = None,
    local_task_data: Mapping[str, str | Path] | None = None,
    batch_size: int = 8,
    num_fewshot: int = 0,
    limit: int | None = None,
    seed: int = 0,
    bootstrap_iters: int = 1000,
    items: list | None = None,
    max_gen_toks: int | None = None,
) -> dict[str, Any]:
    """Scores of one benchmark category: per task and the category mean, plus provenance.

    ``items``: a list that receives the per-item rows (``item_scores``), kept out of the
    returned summary so that the summary JSON is the same with or without them."""
    import lm_eval

    metric = metric_for(category)
    start = time.perf_counter()
    results = run_tasks(
        model,
        tokenizer,
        tasks,
        task_dir=task_dir,
        local_task_data=local_task_data,
        batch_size=batch_size,
        num_fewshot=num_fewshot,
        limit=limit,
        seed=seed,
        bootstrap_iters=bootstrap_iters,
        max_gen_toks=max_gen_toks,
    )
    seconds = time.perf_counter() - start
    task_scores = extract_task_scores(results, tasks, metric)
    if items is not None:
        items.extend(item_scores(results, tasks, metric))
    out = {
        "group": category,
        "metric": metric,
        "tasks": task_scores,
        "category": {"metric": f"mean_{metric}", **aggregate_category(list(task_scores.values()))},
        "settings": {
            "num_fewshot": num_fewshot,
            "limit": limit,
            "max_gen_toks": max_gen_toks,
            "batch_size": batch_size,
            "seed": seed,
            "decoding": "greedy",
            "task_source": "local" if task_dir is not None else "lm-eval",
            "substitutes": {t: TASK_SUBSTITUTES[t] for t in tasks if t in TASK_SUBSTITUTES}
            if task_dir is None
            else {},
            # real tasks run on local files instead of the hub copies
            "local_task_data": {t: str(p) for t, p in (local_task_data or {}).items()
                                if t in tasks},
        },
        "lm_eval_version": getattr(lm_eval, "__version__", "unknown"),
        "library_versions": _library_versions(),
        "versions": results.get("versions", {}),
        "seconds": seconds,
        "lm_eval_results": results.get("results", {}),
    }
    if metric == "bleu":
        out["sacrebleu_signature"] = bleu_signature()
    logger.info("%s: %s in %.1f s", category, out["category"], seconds)
    return out
