"""AdaMerging baseline (appendix E.4, Yang et al. 2023): one ratio per decoder layer, fitted
on LABELLED Reading Comprehension data with the mean ratio held at m (0.2, 0.4, 0.6).

Convention: ratios are the WEIGHT ON theta0 (the pre-RLHF SFT model); 0 = RLHF model.

It is HMA's fitting loop (hma.fit_ratios) with K = number of layers and a different
objective: the log-likelihood of the reference answer given the context-question prompt,
instead of the RLHF policy's own answers. The original AdaMerging minimises prediction
entropy on unlabelled test inputs; the paper gives it labels, and so do we.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path


def load_qa_pairs(paths: Sequence[str | Path], n: int, seed: int) -> list[tuple[str, str]]:
    """(prompt, answer) pairs from JSONL files with "prompt" and "answer" fields (the toy
    world's reading tasks, data/tasks/toy_reading_*.jsonl); ``n`` drawn (seeded) in all."""
    pairs = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                prompt, answer = row.get("prompt"), row.get("answer")
                if isinstance(answer, list):  # several references: fit the first
                    answer = answer[0] if answer else None
                if not isinstance(prompt, str) or not isinstance(answer, str):
                    raise ValueError(f"{path}:{line_no}: need string 'prompt' and 'answer'")
                # the chat format puts a space before the answer (docs/CONTRACTS.md)
                pairs.append((prompt, answer if answer.startswith(" ") else " " + answer))
    if len(pairs) < n:
        raise ValueError(f"merging.adamerging.n_train_samples={n} but only {len(pairs)} "
                         f"labelled reading items in {list(map(str, paths))}")
    return random.Random(seed).sample(pairs, n)


def fit_layer_ratios(model, theta_state, tokenizer, examples, *, mean_alpha: float, lr: float,
                     steps: int, batch_size: int, max_length: int, policies, seed: int,
                     epsilon: float = 0.0, log=None, summary: dict | None = None):
    """Layer-wise ratios with mean ``mean_alpha``; returns (ratios, curve) as fit_ratios."""
    from alignment_tax.hma import FitSettings, fit_ratios

    num_layers = model.config.num_hidden_layers
    ranges = [(i, i + 1) for i in range(num_layers)]
    settings = FitSettings(alpha=mean_alpha, lr=lr, epsilon=epsilon, scheduler="constant",
                           steps=steps, batch_size=batch_size, max_length=max_length,
                           seed=seed)
    return fit_ratios(model, theta_state, tokenizer, examples, ranges=ranges,
                      policies=policies, settings=settings, log=log, summary=summary)
