"""AdaMerging baseline (appendix E.4, Yang et al. 2023): one ratio per decoder layer, fitted
on LABELLED Reading Comprehension data with the mean ratio held at m (0.2, 0.4, 0.6).

The fit never sees an evaluated item: ``reading_fit_rows`` draws new reading items from the
toy world's own generator (a random stream of its own, ``"<seed>-adamerging"``) and drops
any whose prompt is one of the benchmark's, so the Reading scores of fig15 are measured on
items the fit did not use.

Convention: ratios are the WEIGHT ON theta0 (the pre-RLHF SFT model); 0 = RLHF model.

It is HMA's fitting loop (hma.fit_ratios) with K = number of layers and a different
objective: the log-likelihood of the reference answer given the context-question prompt,
instead of the RLHF policy's own answers. The original AdaMerging minimises prediction
entropy on unlabelled test inputs; the paper gives it labels, and so do we.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

FIT_STREAM = "adamerging"


def reading_fit_rows(
    world_params: dict,
    seed: int,
    reading_tasks: Sequence[str],
    n: int,
    *,
    exclude_prompts: set[str],
    world_json: dict | None = None,
) -> list[dict]:
    """``n`` labelled reading items (rows ``{"id", "task", "prompt", "answer"}``, the toy
    reading tasks' schema), spread evenly over ``reading_tasks``, none of whose prompts is
    in ``exclude_prompts`` (the evaluated items) or repeated.

    The world is rebuilt from ``world_params`` and ``seed`` (the toy world rule's params);
    ``world_json`` (data/world.json) guards that it is the world the benchmark came from.
    """
    from alignment_tax.toy_world import check_params
    from alignment_tax.toy_world_facts import READING_TASKS, World, prompt_string

    unknown = [t for t in reading_tasks if t not in READING_TASKS]
    if unknown or not reading_tasks:
        raise ValueError(
            f"config key 'evaluation.benchmarks.reading': AdaMerging fits on the toy reading "
            f"tasks {list(READING_TASKS)}, got {list(reading_tasks)}"
        )
    world = World(seed, check_params(world_params))
    if world_json is not None and world.to_json() != world_json:
        raise ValueError(
            "AdaMerging fit data: the world rebuilt from config 'toy_world' and 'seed' is not "
            "data/world.json (rerun make_toy_world)"
        )
    rng = random.Random(f"{seed}-{FIT_STREAM}")
    seen = set(exclude_prompts)
    rows: list[dict] = []
    for k, task in enumerate(reading_tasks):
        want = n // len(reading_tasks) + (1 if k < n % len(reading_tasks) else 0)
        for _ in range(100 * want + 100):
            if want == 0:
                break
            item = world.reading_item(rng, world.people, subtask=READING_TASKS[task])
            prompt = prompt_string(item.question)
            if prompt in seen:
                continue
            seen.add(prompt)
            rows.append({"task": task, "prompt": prompt, "answer": item.gold})
            want -= 1
        if want:
            raise ValueError(f"AdaMerging fit data: could not draw {n} new {task} items")
    return [{"id": f"{r['task']}_fit_{i:04d}", **r} for i, r in enumerate(rows)]


def load_qa_pairs(paths: Sequence[str | Path], n: int, seed: int) -> list[tuple[str, str]]:
    """(prompt, answer) pairs from JSONL files with "prompt" and "answer" fields (the toy
    world's reading tasks, data/tasks/toy_reading_*.jsonl); ``n`` drawn (seeded) in all."""
    from alignment_tax.io import read_jsonl

    pairs = []
    for path in paths:
        # read_jsonl names the file and line of malformed JSON or a missing field
        rows = read_jsonl(path, required=("prompt", "answer"))
        with open(path, encoding="utf-8") as handle:
            line_nos = [no for no, line in enumerate(handle, 1) if line.strip()]
        for line_no, row in zip(line_nos, rows, strict=True):
            prompt, answer = row["prompt"], row["answer"]
            if isinstance(answer, list):  # several references: fit the first
                answer = answer[0] if answer else None
            if not isinstance(prompt, str) or not isinstance(answer, str):
                raise ValueError(f"{path}:{line_no}: need string 'prompt' and 'answer'")
            # the chat format puts a space before the answer (docs/CONTRACTS.md)
            pairs.append((prompt, answer if answer.startswith(" ") else " " + answer))
    if len(pairs) < n:
        raise ValueError(
            f"merging.adamerging.n_train_samples={n} but only {len(pairs)} "
            f"labelled reading items in {list(map(str, paths))}"
        )
    return random.Random(seed).sample(pairs, n)


def fit_layer_ratios(
    model,
    theta_state,
    tokenizer,
    examples,
    *,
    mean_alpha: float,
    lr: float,
    steps: int,
    batch_size: int,
    max_length: int,
    policies,
    seed: int,
    epsilon: float = 0.0,
    log=None,
    summary: dict | None = None,
):
    """Layer-wise ratios with mean ``mean_alpha``; returns (ratios, curve) as fit_ratios."""
    from alignment_tax.hma import FitSettings, fit_ratios

    num_layers = model.config.num_hidden_layers
    ranges = [(i, i + 1) for i in range(num_layers)]
    settings = FitSettings(
        alpha=mean_alpha,
        lr=lr,
        epsilon=epsilon,
        scheduler="constant",
        steps=steps,
        batch_size=batch_size,
        max_length=max_length,
        seed=seed,
    )
    return fit_ratios(
        model,
        theta_state,
        tokenizer,
        examples,
        ranges=ranges,
        policies=policies,
        settings=settings,
        log=log,
        summary=summary,
    )
