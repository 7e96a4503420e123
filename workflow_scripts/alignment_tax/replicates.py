"""Seeds as replicates: where each seed's chain writes, and the score tables averaged over seeds.

A configuration lists its replicate seeds in ``replicates.seeds`` (default: ``[seed]``, one
chain). The first seed is the run itself and writes ``results/<run>/`` exactly as a
one-seed run does; every further seed k reruns the chain from SFT onward (SFT, reward
model, RLHF, baselines, merges, evaluation) under ``results/<run>/replicates/seed<k>/``.
The data, the tokenizer, the base model (theta_pre) and fetched hub models are shared:
they live under ``results/<run>/`` only. Why from SFT and not from the base model: the
paper starts every chain from one fixed public checkpoint (OpenLLaMA-3B) and fixed
benchmarks, so the variation a reader of its figures must judge is that of SFT, reward
modelling, RLHF and sampling; a new base model (and, in the toy world, a new world with
other benchmark items) per seed would also change the task being measured, and sharing the
items lets the bootstrap resample the same items in every seed.

Import-light (no torch, no pandas at import): Snakemake imports this while it parses.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence

# Results shared by every seed of a run (relative to results/<run>/): data, tokenizer,
# base model, fetched hub checkpoints (folders: models/baselines is not models/base).
SHARED_PREFIXES = ("data/", "models/tokenizer/", "models/base/", "hub/")


def is_shared(path: str) -> bool:
    """Whether a result path (relative to results/<run>/) is shared by every seed."""
    return f"{path}/".startswith(SHARED_PREFIXES)


def replicate_seeds(config: Mapping) -> list[int]:
    """The run's seeds, the first being the run itself (``replicates.seeds``, else [seed])."""
    seeds = (config.get("replicates") or {}).get("seeds")
    return [int(s) for s in seeds] if seeds else [int(config["seed"])]


def is_first_seed(config: Mapping) -> bool:
    return int(config["seed"]) == replicate_seeds(config)[0]


def run_root(config: Mapping) -> str:
    return f"results/{config['run_name']}"


def results_root(config: Mapping, seed: int | None = None) -> str:
    """Where the chain of ``seed`` (default: the config's seed) writes its own results."""
    seed = int(config["seed"]) if seed is None else int(seed)
    if seed == replicate_seeds(config)[0]:
        return run_root(config)
    return f"{run_root(config)}/replicates/seed{seed}"


def logs_root(config: Mapping) -> str:
    base = f"logs/{config['run_name']}"
    return base if is_first_seed(config) else f"{base}/replicates/seed{config['seed']}"


def result_path(config: Mapping, path: str, seed: int | None = None) -> str:
    """A result of the active seed's chain; shared results (SHARED_PREFIXES) of the run."""
    if is_shared(path):
        return f"{run_root(config)}/{path}"
    return f"{results_root(config, seed)}/{path}"


def shared_rules(config: Mapping, rules: Iterable) -> list[str]:
    """Names of the rules whose outputs are all shared results (SHARED_PREFIXES), plus the
    default target: the replicate seeds' modules leave them out, so these run once."""
    root = f"{run_root(config)}/"
    names = ["all"]
    for rule in rules:
        outputs = [str(o) for o in rule.output]
        if outputs and all(o.startswith(root) and is_shared(o[len(root):]) for o in outputs):
            names.append(rule.name)
    return names


def seed_config(config: Mapping, seed: int) -> dict:
    """The configuration of one replicate's chain: the same, with ``seed`` set to it."""
    out = copy.deepcopy(dict(config))
    out["seed"] = int(seed)
    return out


# --------------------------------------------------------------------------- aggregation


def aggregate_wide_tables(tables: Sequence, seeds: Sequence[int]):
    """Mean and standard error over seeds of one category's wide tables (one per seed).

    Rows are matched by variant (a variant missing from a seed is averaged over the seeds
    that have it). Every numeric score column becomes its mean over seeds, and its
    ``<column>_stderr`` the standard error of that mean over seeds (sample std / sqrt(n),
    NaN with one seed); ``n_seeds`` counts the seeds behind each row. Metadata columns
    (alpha, K, ...) are the first seed's. The item-level stderr of single runs is dropped:
    with several seeds the spread between chains is the error a reader needs.
    """
    import numpy as np
    import pandas as pd

    from alignment_tax.tables import META_COLUMNS

    if len(tables) != len(seeds) or not tables:
        raise ValueError(f"{len(tables)} tables for {len(seeds)} seeds")
    meta = [c for c in META_COLUMNS if c in tables[0].columns]
    score_cols = []
    for table in tables:
        for column in table.columns:
            if (column not in meta and column != "variant" and not column.endswith("_stderr")
                    and pd.api.types.is_numeric_dtype(table[column])
                    and column not in score_cols):
                score_cols.append(column)
    stacked = pd.concat(
        [t.set_index("variant")[[c for c in score_cols if c in t.columns]].assign(seed=s)
         for t, s in zip(tables, seeds, strict=True)]
    )
    grouped = stacked.groupby(level="variant")[score_cols]
    mean = grouped.mean()
    count = grouped.count()
    stderr = (grouped.std(ddof=1) / np.sqrt(count)).where(count > 1)
    first = tables[0].set_index("variant")[[c for c in meta if c != "variant"]]
    others = pd.concat([t.set_index("variant")[[c for c in meta if c != "variant"]]
                        for t in tables[1:]]) if len(tables) > 1 else first.iloc[0:0]
    meta_rows = pd.concat([first, others[~others.index.isin(first.index)]])
    meta_rows = meta_rows[~meta_rows.index.duplicated()]
    out = meta_rows.join(mean, how="outer")
    for column in score_cols:
        out[f"{column}_stderr"] = stderr[column].reindex(out.index)
    out["n_seeds"] = stacked.groupby(level="variant").size().reindex(out.index)
    out = out.reset_index().rename(columns={"index": "variant"})
    return out.sort_values("variant", ignore_index=True)
