"""Glue shared by the thin rule scripts: logging to the rule's log file, seeding."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def rule_logging(snakemake) -> Iterator[logging.Logger]:
    """Send stdout, stderr and the ``logging`` module to the rule's first log file."""
    log_path = snakemake.log[0] if len(snakemake.log) else None
    if log_path is None:
        yield logging.getLogger(snakemake.rule)
        return
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "w", encoding="utf-8", buffering=1) as handle:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = handle
        root = logging.getLogger()
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield logging.getLogger(snakemake.rule)
        finally:
            root.removeHandler(handler)
            sys.stdout, sys.stderr = old_out, old_err


def seed_everything(seed: int) -> None:
    """Seed random, numpy and torch (and CUDA) through transformers' set_seed, the same
    call the training stages use (alignment_tax.training_common.set_seed)."""
    from transformers import set_seed

    set_seed(seed)


def limit_cpu_threads() -> None:
    """Use the cores Snakemake gave the job (``OMP_NUM_THREADS`` is set from ``threads``)."""
    import torch

    threads = int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
