"""The alignment tax: lm-eval benchmarks run on a model held in memory.

One call of ``lm_eval.simple_evaluate`` per (model, benchmark category), 0-shot, greedy
decoding for generation tasks, with ``HFLM(pretrained=<model object>)`` so merged models
built from a recipe are never written to disk. The toy tasks and the paper's tasks take
the same code path; only the task names and the TaskManager's search path differ:

- toy tasks: ``TaskManager(include_path=<data/tasks>, include_defaults=False)``;
- real tasks: lm-eval's built-in tasks plus ``lm_eval_tasks/`` next to this file, which
  holds ``squadv2_tokf1``: lm-eval's squadv2 scored by our SQuAD token F1, because the
  built-in squadv2 scores through ``evaluate.load("squad_v2")`` (a hub download). The
  config keeps the name ``squadv2``; results are reported under that name.

Each task yields its category's metric (accuracy, F1 or BLEU), its standard error and the
number of items; the category score is their unweighted mean (alignment_tax.metrics).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    batch_size: int = 8,
    num_fewshot: int = 0,
    limit: int | None = None,
    seed: int = 0,
    bootstrap_iters: int = 1000,
    max_length: int | None = None,
) -> dict[str, Any]:
    """Run lm-eval on an in-memory model; return lm-eval's results dict (serialisable).

    ``tasks`` are config names; substitutes (TASK_SUBSTITUTES) are run in their place when
    the real tasks are used, and their results are renamed back.
    """
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.utils import handle_non_serializable

    if not tasks:
        raise ValueError("no benchmark tasks given")
    task_manager = make_task_manager(task_dir)
    run_names = [t if task_dir is not None else TASK_SUBSTITUTES.get(t, t) for t in tasks]
    missing = [t for t in run_names if t not in task_manager.all_tasks]
    if missing:
        where = task_dir if task_dir is not None else "lm-eval's task registry"
        raise KeyError(f"benchmark task(s) {missing} not found in {where}")

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
            # greedy decoding for every generation task (the authors' setting)
            gen_kwargs={"do_sample": False, "temperature": 0.0},
            bootstrap_iters=bootstrap_iters,
            log_samples=False,
            random_seed=seed,
            numpy_random_seed=seed,
            torch_random_seed=seed,
            fewshot_random_seed=seed,
        )
    # results hold torch dtypes and other objects: round-trip through JSON the lm-eval way
    results = json.loads(json.dumps(results, default=handle_non_serializable))
    rename = {run: name for run, name in zip(run_names, tasks, strict=True) if run != name}
    for key in ("results", "n-samples", "configs", "versions", "higher_is_better", "n-shot"):
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
    batch_size: int = 8,
    num_fewshot: int = 0,
    limit: int | None = None,
    seed: int = 0,
    bootstrap_iters: int = 1000,
) -> dict[str, Any]:
    """Scores of one benchmark category: per task and the category mean, plus provenance."""
    import lm_eval

    metric = metric_for(category)
    start = time.perf_counter()
    results = run_tasks(
        model,
        tokenizer,
        tasks,
        task_dir=task_dir,
        batch_size=batch_size,
        num_fewshot=num_fewshot,
        limit=limit,
        seed=seed,
        bootstrap_iters=bootstrap_iters,
    )
    seconds = time.perf_counter() - start
    task_scores = extract_task_scores(results, tasks, metric)
    out = {
        "group": category,
        "metric": metric,
        "tasks": task_scores,
        "category": {"metric": f"mean_{metric}", **aggregate_category(list(task_scores.values()))},
        "settings": {
            "num_fewshot": num_fewshot,
            "limit": limit,
            "batch_size": batch_size,
            "seed": seed,
            "decoding": "greedy",
            "task_source": "local" if task_dir is not None else "lm-eval",
            "substitutes": {t: TASK_SUBSTITUTES[t] for t in tasks if t in TASK_SUBSTITUTES}
            if task_dir is None
            else {},
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
