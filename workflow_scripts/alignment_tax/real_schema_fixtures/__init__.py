"""Small data files in the public data sets' own schemas, generated here (nothing downloaded).

They let the paper's code paths run on a real pretrained model without the hub: the same
loaders that read the hub copies (``hub_data.load_hub_dataset`` through a config's
``local_files``, lm-eval's own task definitions through ``evaluation.local_task_data``)
read these files. Every row is a simple true statement or question a small instruct model
can answer some of the time; which items are kept, their order and the order of the
answer options follow ``seed``.

One file per data set (``FIXTURE_FILES`` names them); the schemas are documented where the
rows are built: ``chat_rows`` (ShareGPT, HH-RLHF, UltraFeedback, AlpacaEval and its
df_gamed.csv, the RedPajama sample) and ``benchmark_rows`` (ARC, RACE, PIQA, SQuAD v2,
DROP, WMT14 fr-en, as lm-eval reads them). The items they draw from are the JSON banks of
``item_banks``.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from alignment_tax.io import atomic_path, write_json, write_jsonl
from alignment_tax.real_schema_fixtures.benchmark_rows import (
    arc_rows,
    drop_rows,
    piqa_rows,
    race_rows,
    squadv2_rows,
    wmt14_rows,
)
from alignment_tax.real_schema_fixtures.chat_rows import (
    alpaca_eval_glm_rows,
    alpaca_eval_rows,
    chat_splits,
    hh_rlhf_rows,
    pretrain_rows,
    sharegpt_rows,
    ultrafeedback_rows,
)
from alignment_tax.real_schema_fixtures.item_banks import MAX_ITEMS, SQUAD_TRAIN

# name -> path under the fixture folder. Benchmarks are named as the config names them.
FIXTURE_FILES = {
    "sharegpt": "sharegpt.json",
    "hh_rlhf_train": "hh_rlhf/train.jsonl",
    "hh_rlhf_test": "hh_rlhf/test.jsonl",
    "ultrafeedback_train_prefs": "ultrafeedback/train_prefs.jsonl",
    "ultrafeedback_test_prefs": "ultrafeedback/test_prefs.jsonl",
    "alpaca_eval": "alpaca_eval.json",
    "alpaca_eval_glm": "alpaca_eval_df_gamed.csv",
    "pretrain_sample": "pretrain_sample.jsonl",
    "arc_easy": "benchmarks/arc_easy.jsonl",
    "arc_challenge": "benchmarks/arc_challenge.jsonl",
    "race": "benchmarks/race.jsonl",
    "piqa": "benchmarks/piqa.jsonl",
    "squadv2": "benchmarks/squadv2.jsonl",
    # rajpurkar/squad_v2's train split (AdaMerging's labelled fit data, datasets.squadv2_train):
    # other passages than the evaluated squadv2 fixture, as the hub's train and validation
    # splits are
    "squadv2_train": "squad_v2/train.jsonl",
    "drop": "benchmarks/drop.jsonl",
    "wmt14-fr-en": "benchmarks/wmt14-fr-en.jsonl",
}
BENCHMARK_FIXTURES = ("arc_easy", "arc_challenge", "race", "piqa", "squadv2", "drop", "wmt14-fr-en")


def fixture_rows(seed: int, n_items: int) -> dict[str, list[dict]]:
    """Every fixture's rows, keyed as FIXTURE_FILES; each data set draws from its own
    generator seeded from ``seed`` and its name, so adding one leaves the others unchanged."""
    if not 2 <= n_items <= MAX_ITEMS:
        raise ValueError(f"fixture n_items must be in 2..{MAX_ITEMS}, got {n_items}")

    def rng(name: str) -> random.Random:
        return random.Random(f"{seed}:{name}")

    train, test = chat_splits(rng("chat"), n_items)
    return {
        "sharegpt": sharegpt_rows(rng("sharegpt"), train),
        "hh_rlhf_train": hh_rlhf_rows(train),
        "hh_rlhf_test": hh_rlhf_rows(test),
        "ultrafeedback_train_prefs": ultrafeedback_rows(rng("ultrafeedback"), train),
        "ultrafeedback_test_prefs": ultrafeedback_rows(rng("ultrafeedback_test"), test),
        "alpaca_eval": alpaca_eval_rows(rng("alpaca_eval"), n_items),
        "alpaca_eval_glm": alpaca_eval_glm_rows(rng("alpaca_eval_glm"), n_items),
        "pretrain_sample": pretrain_rows(),
        "arc_easy": arc_rows(rng("arc_easy"), n_items, challenge=False),
        "arc_challenge": arc_rows(rng("arc_challenge"), n_items, challenge=True),
        "race": race_rows(rng("race"), n_items),
        "piqa": piqa_rows(rng("piqa"), n_items),
        "squadv2": squadv2_rows(rng("squadv2"), n_items),
        "squadv2_train": squadv2_rows(rng("squadv2_train"), n_items, SQUAD_TRAIN),
        "drop": drop_rows(rng("drop"), n_items),
        "wmt14-fr-en": wmt14_rows(rng("wmt14-fr-en"), n_items),
    }


def write_fixtures(out_dir: str | Path, seed: int, n_items: int) -> dict[str, Path]:
    """Write every fixture under ``out_dir`` (each file atomically); return name -> path.

    ShareGPT and AlpacaEval are JSON lists as their hub files are, df_gamed.csv a CSV;
    the rest JSONL.
    """
    out_dir = Path(out_dir)
    paths = {}
    for name, rows in fixture_rows(seed, n_items).items():
        path = out_dir / FIXTURE_FILES[name]
        if path.suffix == ".json":
            write_json(path, rows)
        elif path.suffix == ".csv":
            with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        else:
            write_jsonl(path, rows)
        paths[name] = path
    return paths
