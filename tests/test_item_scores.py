"""Per-item scores of the evaluation jobs (the sidecar <group>.items.csv): they reproduce
each task's score, and writing them leaves the summary JSON as it was."""

import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from alignment_tax import benchmarks  # noqa: E402
from alignment_tax.paper_claims import bleu_from_stats, read_item_file  # noqa: E402
from test_evaluation import TOY_PARAMS, tiny_models, toy_data  # noqa: E402, F401


@pytest.mark.parametrize("category", ["common_sense", "reading", "translation"])
def test_items_reproduce_the_task_scores(toy_data, tiny_models, category, tmp_path):  # noqa: F811
    from alignment_tax.toy_tasks import benchmark_groups, task_include_dir

    model, tokenizer, _ = tiny_models
    tasks = benchmark_groups()[category]
    kwargs = dict(task_dir=task_include_dir(toy_data / "tasks"), batch_size=8, seed=0)
    items = []
    out = benchmarks.evaluate_category(model, tokenizer, category, tasks, items=items, **kwargs)
    plain = benchmarks.evaluate_category(model, tokenizer, category, tasks, **kwargs)
    for summary in (out, plain):
        summary.pop("seconds")
    assert json.dumps(out, sort_keys=True) == json.dumps(plain, sort_keys=True)
    assert "samples" not in json.dumps(out)  # the summary holds no per-item data

    path = tmp_path / f"{category}.items.csv"
    benchmarks.write_item_scores(items, path)
    frame = pd.read_csv(path)
    assert list(frame.columns) == list(benchmarks.ITEM_COLUMNS)
    assert len(frame) == TOY_PARAMS["n_benchmark_items"] * len(tasks)
    per_task = read_item_file(path)
    assert sorted(per_task) == sorted(tasks)
    for task, values in per_task.items():
        want = out["tasks"][task]["value"]
        got = bleu_from_stats(values.sum(axis=0)) if values.ndim == 2 else values.mean()
        assert got == pytest.approx(want, abs=1e-9), task
        assert np.isfinite(values).all()
