"""Benchmark: the bootstrap behind tables/paper_claims.csv at the toy run's size.

Builds the default toy configuration's 75 variants (their real metadata, from
alignment_tax.variants) with synthetic scores of the toy run's shape: 6 benchmark tasks of
150 items (3 accuracy, 2 token-F1, 1 BLEU with per-item sacreBLEU statistics) and 150
reward prompts; then times ``paper_claims`` with the config's bootstrap (B = 1000) for one
seed and for three replicate seeds. The scores are random, so only the time means
anything; no run of the workflow is needed.

    .venv/bin/python benchmarks/bench_paper_claims.py [--samples 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))

from alignment_tax.artifact_catalogue import (  # noqa: E402
    artifacts,
    buildable_artifacts,
    load_wide_tables,
)
from alignment_tax.paper_claims import BootstrapSettings, SeedItems, paper_claims  # noqa: E402
from alignment_tax.tables import LONG_COLUMNS, variant_meta, wide_table  # noqa: E402
from alignment_tax.variants import recipe_spec, variant_ids  # noqa: E402

TASKS = {"common_sense": ["habitat", "diet", "color"], "reading": ["people", "places"],
         "translation": ["fr_en"]}
N_ITEMS = N_PROMPTS = 150


def synthetic_run(config: dict, seed: int) -> tuple[pd.DataFrame, SeedItems]:
    rng = np.random.default_rng(seed)
    items = SeedItems()
    rows = []
    for variant in variant_ids(config):
        meta = variant_meta(variant, {"meta": recipe_spec(config, variant)["meta"]}, run="toy",
                            model="toy")
        rewards = rng.normal(5, 1, N_PROMPTS)
        items.reward[variant] = rewards
        rows.append({**meta, "group": "reward", "benchmark": "reward", "metric": "reward",
                     "value": rewards.mean(), "stderr": 0.1, "n": N_PROMPTS})
        for category, tasks in TASKS.items():
            values = []
            for task in tasks:
                if category == "translation":  # sys_len, ref_len, correct_1..4, total_1..4
                    total = rng.integers(5, 12, (N_ITEMS, 1)) - np.arange(4)
                    stats = np.c_[total[:, :1], total[:, :1] + 1,
                                  rng.binomial(total, 0.4), total].astype(float)
                    items.tasks.setdefault(category, {}).setdefault(task, {})[variant] = stats
                    values.append(20.0)
                else:
                    x = rng.binomial(1, 0.5, N_ITEMS).astype(float)
                    items.tasks.setdefault(category, {}).setdefault(task, {})[variant] = x
                    values.append(x.mean())
                rows.append({**meta, "group": category, "benchmark": task, "metric": "acc",
                             "value": values[-1], "stderr": 0.03, "n": N_ITEMS})
            rows.append({**meta, "group": category, "benchmark": category, "metric": "mean",
                         "value": float(np.mean(values)), "stderr": 0.02, "n": N_ITEMS})
    return pd.DataFrame(rows, columns=LONG_COLUMNS), items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    long, first = synthetic_run(config, 0)
    seeds = [first] + [synthetic_run(config, s)[1] for s in (1, 2)]
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for category in TASKS:
            paths[category] = str(Path(tmp) / f"wide_{category}.csv")
            wide_table(long, category).to_csv(paths[category], index=False)
        tables = load_wide_tables(paths)
    settings = BootstrapSettings(samples=args.samples, seed=1)
    names = buildable_artifacts(config)
    for n_seeds in (1, 3):
        start, cpu = time.perf_counter(), time.process_time()
        frame = paper_claims(artifacts(config), tables, names, seeds=seeds[:n_seeds],
                             settings=settings)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        # CPU seconds too: on a shared machine the wall time includes waiting for a core
        print(f"{n_seeds} seed(s), B={args.samples}: {len(frame)} claim rows in "
              f"{seconds:.1f} s wall, {cpu:.1f} s CPU "
              f"({frame['verdict'].value_counts().to_dict()})")


if __name__ == "__main__":
    main()
