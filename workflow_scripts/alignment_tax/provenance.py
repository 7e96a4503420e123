"""What a run was made from: the resolved configuration, in a canonical form.

Snakemake compares a rule's ``params`` with the previous run's by their text (``repr``),
so two configurations that differ only in the order of their keys would look different
and rerun everything. :func:`canonical` reorders every mapping by key, recursively, so
that the text of every params value derived from the config depends only on its content;
the Snakefile applies it to the whole config once it is loaded and validated.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from alignment_tax.io import write_text

DIGEST_CHARS = 16
NUMBER = "<number>"


def canonical(value: Any) -> Any:
    """``value`` with the keys of every mapping in sorted order, recursively (a copy).

    Lists keep their order (it means something: alphas, seeds, stages).
    """
    if isinstance(value, Mapping):
        return {key: canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value


def canonicalise_in_place(config: dict) -> dict:
    """Reorder ``config`` and every mapping in it by key, in place; returns ``config``.

    In place because Snakemake's ``config`` object is shared by every rule file.
    """
    ordered = canonical(config)
    config.clear()
    config.update(ordered)
    return config


def digest(value: Any) -> str:
    """Short SHA-256 of a JSON-able value, independent of key order."""
    text = json.dumps(canonical(value), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]


def graph_shape(value: Any) -> Any:
    """The part of a config that can change which rules the workflow draws and how they
    connect. Kept: mapping keys, booleans, strings, nulls. Numbers become "<number>" (a
    learning rate or an alpha changes results, never the rule graph); a list becomes the set
    of its distinct non-number items plus how many numbers it holds, counted 0, 1 or "2+"
    (a grid that empties, or a second replicate seed, can change the graph; another value
    in a grid, or more points in a grid of two, cannot)."""
    if isinstance(value, Mapping):
        return {str(key): graph_shape(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        shapes = [graph_shape(item) for item in value]
        n_numbers = sum(1 for shape in shapes if shape == NUMBER)
        others = sorted({json.dumps(s, sort_keys=True) for s in shapes if s != NUMBER})
        return {"numbers": min(n_numbers, 2), "items": others}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return NUMBER
    return str(value)


def resolved_config_text(config: Mapping) -> str:
    """The resolved config as YAML, keys sorted (what config.resolved.yaml holds)."""
    header = (
        "# The configuration this run resolved: the config file given (or the toy default)\n"
        "# with the schema's defaults filled in and any --config overrides applied.\n"
        "# Rerun with: snakemake --configfile <this file> ...\n"
    )
    return header + yaml.safe_dump(canonical(dict(config)), sort_keys=True, allow_unicode=True)


def write_resolved_config(path: str, config: Mapping) -> None:
    """Write the resolved config to ``path`` atomically."""
    write_text(path, resolved_config_text(config))


def draw_rule_graph(
    snakefile: str | os.PathLike,
    config: Mapping,
    out: str | os.PathLike,
    log_path: str | os.PathLike,
    target: str = "all_figures",
) -> None:
    """Write the workflow's rule graph for ``target`` under ``config`` as dot, atomically.

    Runs the Snakemake that runs this job (``sys.executable``) with ``config`` alone, written
    to a temporary file, so the graph is the one this run's configuration draws.
    """
    with tempfile.TemporaryDirectory(prefix="rulegraph.") as tmp:
        configfile = Path(tmp) / "config.yaml"
        configfile.write_text(resolved_config_text(config), encoding="utf-8")
        cmd = [
            sys.executable, "-m", "snakemake", "-s", str(snakefile), target,
            "--nolock", "--rulegraph", "dot", "--configfile", str(configfile),
        ]  # fmt: skip
        with open(log_path, "w", encoding="utf-8") as log:
            result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, text=True, check=False)
    if result.returncode != 0 or not result.stdout.startswith("digraph"):
        raise RuntimeError(
            f"snakemake --rulegraph failed (exit {result.returncode}): see {log_path}"
        )
    write_text(out, result.stdout)
