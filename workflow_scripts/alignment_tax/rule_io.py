"""Glue shared by the thin rule scripts: logging to the rule's log file, seeding."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def rule_logging(snakemake) -> Iterator[logging.Logger]:
    """Send stdout, stderr and the ``logging`` module to the rule's first log file.

    Both levels are redirected: ``sys.stdout``/``sys.stderr`` and file descriptors 1 and 2.
    The descriptors catch what holds on to the streams of an earlier moment, such as a
    library's logging handler made at import (in the warm worker, before the job started)
    and messages of C++ code (torch), which would otherwise reach Snakemake's terminal.
    """
    log_path = snakemake.log[0] if len(snakemake.log) else None
    if log_path is None:
        yield logging.getLogger(snakemake.rule)
        return
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "w", encoding="utf-8", buffering=1) as handle:
        old_out, old_err = sys.stdout, sys.stderr
        for stream in (old_out, old_err):
            stream.flush()
        saved_fds = [os.dup(1), os.dup(2)]
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
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
            for stream in (handle, old_out, old_err):
                with contextlib.suppress(ValueError, OSError):
                    stream.flush()
            sys.stdout, sys.stderr = old_out, old_err
            for fd, saved in zip((1, 2), saved_fds, strict=True):
                os.dup2(saved, fd)
                os.close(saved)


def seed_everything(seed: int) -> None:
    """Seed random, numpy and torch (and CUDA) through transformers' set_seed, the same
    call the training stages use (alignment_tax.training_common.set_seed)."""
    from transformers import set_seed

    set_seed(seed)


def random_states() -> tuple:
    """The states of Python's, numpy's and torch's CPU generators (what seed_everything
    seeds), to start several evaluations of one job from the same point."""
    import random

    import numpy as np
    import torch

    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def set_random_states(states: tuple) -> None:
    import random

    import numpy as np
    import torch

    python_state, numpy_state, torch_state = states
    random.setstate(python_state)
    np.random.set_state(numpy_state)
    torch.set_rng_state(torch_state)


def limit_cpu_threads() -> None:
    """Use the cores Snakemake gave the job (``OMP_NUM_THREADS`` is set from ``threads``)."""
    import torch

    threads = int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
