"""What a change reruns, measured on a small complete run in a scratch copy of the repository.

The quick tests (always run) build the first jobs of a tiny toy run and check that the
order of the config's keys and the way the config is given (default or --configfile)
rerun nothing, and that rule rulegraph reruns when the rule graph can change and only then.

The slow test (TOY_E2E=1, CI, or RERUN_TABLE=1) runs the whole tiny all_figures
(tests/fixtures/rerun_small.yaml over the toy config), then makes each kind of change of
README's "Changing things and rerunning" table, asks Snakemake what it would rerun (a dry
run), checks it, and compares the table it measured with README's. RERUN_TABLE=write
rewrites README's table from the measurement.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake

FIXTURE = REPO / "tests" / "fixtures" / "rerun_small.yaml"
README = REPO / "README.md"
TABLE_BEGIN = "<!-- rerun-table:begin (written by tests/test_reruns.py) -->"
TABLE_END = "<!-- rerun-table:end -->"
IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "results", "logs", ".snakemake", "__pycache__", ".pytest_cache", ".ruff_cache"
)


# ---------------------------------------------------------------- helpers


def deep_merge(base: dict, over: dict) -> dict:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = value
    return base


def small_config() -> dict:
    """The tiny run's complete config: the toy config with the fixture's overrides."""
    toy = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    return deep_merge(toy, yaml.safe_load(FIXTURE.read_text()))


def reversed_mappings(value):
    """The same config with the keys of every mapping in reverse order."""
    if isinstance(value, dict):
        return {key: reversed_mappings(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_mappings(item) for item in value]
    return value


def scratch_repo(dst: Path, config: dict) -> Path:
    """A copy of the repository whose default config/config.yaml is ``config``."""
    shutil.copytree(REPO, dst, ignore=IGNORE, symlinks=True)
    write_config(dst, config)
    return dst


def write_config(repo: Path, config: dict) -> None:
    (repo / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def planned_jobs(repo: Path, *args: str) -> dict[str, int]:
    """Rule -> number of jobs a dry run of ``args`` would run ({} = nothing to do)."""
    result = run_snakemake("-n", "--cores", "2", *args, cwd=repo)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    if "Nothing to be done" in out:
        return {}
    stats = re.search(r"Job stats:\njob\s+count\n[- ]+\n(.*?)\ntotal\s+\d+", out, re.S)
    assert stats, out[-4000:]
    return {
        name: int(count) for name, count in (row.split() for row in stats.group(1).splitlines())
    }


def build(repo: Path, *targets: str, timeout: int = 600) -> None:
    result = run_snakemake("--cores", "2", *targets, cwd=repo, timeout=timeout)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]


# ---------------------------------------------------------------- quick tests

RUN = "rerun_small"
WORLD = f"results/{RUN}/data/world.json"
RULEGRAPH = f"results/{RUN}/figures/fig1_fig2_rulegraph.dot"


@pytest.fixture(scope="module")
def first_jobs(tmp_path_factory):
    """A scratch repo whose tiny toy run has made its data and its rule graph."""
    repo = scratch_repo(tmp_path_factory.mktemp("reruns") / "repo", small_config())
    build(repo, WORLD, RULEGRAPH)
    return repo


def test_key_order_of_the_config_reruns_nothing(first_jobs):
    config = small_config()
    write_config(first_jobs, reversed_mappings(config))
    try:
        assert planned_jobs(first_jobs, WORLD, RULEGRAPH) == {}
    finally:
        write_config(first_jobs, config)


def test_giving_the_same_config_with_configfile_reruns_nothing(first_jobs):
    assert planned_jobs(first_jobs, WORLD, RULEGRAPH) == {}
    assert planned_jobs(first_jobs, WORLD, RULEGRAPH, "--configfile", "config/config.yaml") == {}


def test_rule_graph_is_redrawn_only_when_the_graph_can_change(first_jobs):
    config = small_config()
    try:
        numbers = small_config()
        numbers["plots"]["dpi"] += 50
        numbers["sft"]["lr"] *= 2
        write_config(first_jobs, numbers)
        assert "rulegraph" not in planned_jobs(first_jobs, RULEGRAPH)
        fewer = small_config()
        fewer["rlhf"]["algorithms"] = ["rsf"]
        write_config(first_jobs, fewer)
        assert "rulegraph" in planned_jobs(first_jobs, RULEGRAPH)
    finally:
        write_config(first_jobs, config)


# ---------------------------------------------------------------- the table (slow)


@dataclass
class Change:
    kind: str  # the table's first column
    example: str  # what the test changed
    apply: Callable[[Path], None]  # edits the scratch repo (files are restored afterwards)
    must_rerun: set[str] = field(default_factory=set)
    must_not_rerun: set[str] = field(default_factory=set)
    only: set[str] | None = None  # exactly these rules (besides all_figures)
    args: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # files apply() edits (restored with their mtime)


def config_change(kind, path, new, **expect) -> Change:
    """A change of one config value; ``new`` maps the old value to the new one."""
    keys = path.split(".")

    def value_of(config):
        for key in keys:
            config = config[key]
        return config

    old = value_of(small_config())
    example = f"`{path}`: {old} -> {new(old)}"

    def apply(repo):
        config = small_config()
        parent = config
        for key in keys[:-1]:
            parent = parent[key]
        parent[keys[-1]] = new(old)
        write_config(repo, config)

    return Change(kind, example, apply, files=("config/config.yaml",), **expect)


def edit_file(rel: str, edit: Callable[[str], str]) -> Callable[[Path], None]:
    def apply(repo):
        path = repo / rel
        path.write_text(edit(path.read_text()))

    return apply


def reformatted(text: str) -> str:
    """A comment added, the module docstring reworded, blank lines added: same code."""
    assert text.startswith('"""'), "the module needs a docstring for this change"
    return "# a comment\n" + text.replace('"""', '"""Reworded. ', 1) + "\n\n# the end\n"


HMA = "workflow_scripts/alignment_tax/hma.py"
PLOT = "workflow_scripts/plot_figure.py"
TRAINING = {"train_sft", "train_reward_model", "train_rsf", "train_dpo"}

CHANGES = [
    config_change(
        "toy world: its data",
        "toy_world.n_sharegpt",
        lambda v: v + 20,
        must_rerun={"make_toy_world", "train_sft", "figure"},
    ),
    config_change(
        "toy world: pretraining the base model",
        "toy_world.pretrain.lr",
        lambda v: v * 2,
        must_rerun={"pretrain_base_model", "train_sft"},
        must_not_rerun={"make_toy_world", "train_tokenizer"},
    ),
    config_change(
        "SFT",
        "sft.lr",
        lambda v: v * 2,
        must_rerun={"train_sft", "train_rsf", "train_dpo"},
        must_not_rerun={"pretrain_base_model"},
    ),
    config_change(
        "reward model",
        "reward_model.lr",
        lambda v: v * 2,
        must_rerun={"train_reward_model", "train_rsf", "evaluate_reward"},
        must_not_rerun={"train_sft", "train_dpo"},
    ),
    config_change(
        "an RLHF algorithm (DPO)",
        "rlhf.dpo.lr",
        lambda v: v * 2,
        must_rerun={"train_dpo", "fit_hma"},
        must_not_rerun={"train_sft", "train_reward_model", "train_rsf"},
    ),
    config_change(
        "merging: MA alphas (one replaced)",
        "merging.ma.alphas",
        lambda v: [0.7 if a == v[-1] else a for a in v],
        must_rerun={"make_recipe", "evaluate_benchmark", "figure"},
        must_not_rerun=TRAINING | {"fit_hma", "rulegraph"},
    ),
    config_change(
        "HMA",
        "merging.hma.epochs",
        lambda v: v + 1,
        must_rerun={"fit_hma", "evaluate_benchmark"},
        must_not_rerun=TRAINING | {"build_hma_dataset", "make_recipe"},
    ),
    config_change(
        "evaluation: reward",
        "evaluation.reward.temperature",
        lambda v: round(v * 0.7, 2),
        must_rerun={"evaluate_reward", "build_tables"},
        must_not_rerun=TRAINING | {"evaluate_benchmark"},
    ),
    config_change(
        "plots",
        "plots.dpi",
        lambda v: v - 50,
        only={"figure", "resolved_config"},
    ),
    config_change(
        "which algorithms run (the rule graph changes)",
        "rlhf.algorithms",
        lambda v: [a for a in v if a != "dpo"],
        must_rerun={"rulegraph", "build_tables"},
        must_not_rerun=TRAINING,
    ),
    Change(
        "a library module's code",
        "`alignment_tax/hma.py`: a statement added",
        edit_file(HMA, lambda t: t + "\n\nCODE_VERSION = 2\n"),
        must_rerun={"fit_hma", "build_hma_dataset"},
        must_not_rerun=TRAINING,
        files=(HMA,),
    ),
    Change(
        "a comment, docstring or reformatting in a library module",
        "`alignment_tax/hma.py`: comments, docstring, blank lines",
        edit_file(HMA, reformatted),
        only=set(),
        files=(HMA,),
    ),
    Change(
        "a rule script's code",
        "`workflow_scripts/plot_figure.py`: a statement added",
        edit_file(PLOT, lambda t: t + "\nCODE_VERSION = 2\n"),
        only={"figure"},
        files=(PLOT,),
    ),
    Change(
        "a comment in a rule script",
        "`workflow_scripts/plot_figure.py`: a comment added",
        edit_file(PLOT, lambda t: t + "\n# a comment\n"),
        files=(PLOT,),
    ),
    Change(
        "the software environment",
        "`envs/plotting.yaml`: the matplotlib pin",
        edit_file(
            "envs/plotting.yaml", lambda t: re.sub(r"matplotlib==\S+", "matplotlib==0.0.0", t)
        ),
        must_rerun={"figure"},
        must_not_rerun=TRAINING | {"evaluate_benchmark"},
        files=("envs/plotting.yaml",),
    ),
    Change(
        "key order",
        "every mapping of the config in reverse order",
        lambda repo: write_config(repo, reversed_mappings(small_config())),
        only=set(),
        files=("config/config.yaml",),
    ),
    Change(
        "the same config given with `--configfile`",
        "`--configfile config/config.yaml`",
        lambda repo: None,
        only=set(),
        args=("--configfile", "config/config.yaml"),
    ),
]


def describe(jobs: dict[str, int]) -> str:
    jobs = {rule: n for rule, n in jobs.items() if rule != "all_figures"}
    if not jobs:
        return "nothing"
    rules = ", ".join(f"{rule} ({n})" if n > 1 else rule for rule, n in jobs.items())
    return f"{sum(jobs.values())} jobs: {rules}"


def rerun_table(rows: list[tuple[Change, dict[str, int]]], total: int) -> str:
    lines = [
        f"| change | what the test changed | what reruns (of the small run's {total} jobs) |",
        "|---|---|---|",
    ]
    lines += [f"| {c.kind} | {c.example} | {describe(jobs)} |" for c, jobs in rows]
    return "\n".join(lines)


def readme_table(text: str) -> re.Match:
    """The table between README's markers (group 1)."""
    match = re.search(re.escape(TABLE_BEGIN) + r"\n(.*?)\n?" + re.escape(TABLE_END), text, re.S)
    assert match, f"README.md lacks the markers {TABLE_BEGIN} ... {TABLE_END}"
    return match


def _slow_enabled() -> bool:
    return (
        os.environ.get("TOY_E2E") == "1"
        or os.environ.get("CI", "").lower() in {"1", "true", "yes"}
        or bool(os.environ.get("RERUN_TABLE"))
    )


@pytest.mark.slow
def test_rerun_table_is_measured(tmp_path):
    if not _slow_enabled():
        pytest.skip("set TOY_E2E=1 (or RERUN_TABLE=1) to run the small complete run")
    started = time.monotonic()
    repo = scratch_repo(tmp_path / "repo", small_config())
    build(repo, "all_figures", timeout=1800)
    built = time.monotonic()
    total = sum(planned_jobs(repo, "all_figures", "--forceall").values()) - 1  # all_figures
    assert planned_jobs(repo, "all_figures") == {}, "the small run is not complete"
    rows = []
    for change in CHANGES:
        saved = {rel: ((repo / rel).read_bytes(), (repo / rel).stat()) for rel in change.files}
        try:
            change.apply(repo)
            jobs = planned_jobs(repo, "all_figures", *change.args)
        finally:
            for rel, (data, stat) in saved.items():
                (repo / rel).write_bytes(data)
                os.utime(repo / rel, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        rows.append((change, jobs))
        reran = set(jobs) - {"all_figures"}
        assert change.must_rerun <= reran, (change.kind, jobs)
        assert not (change.must_not_rerun & reran), (change.kind, jobs)
        if change.only is not None:
            assert reran == change.only, (change.kind, jobs)
    assert planned_jobs(repo, "all_figures") == {}, "the changes were not all undone"
    print(
        f"\nsmall run {built - started:.0f} s, {len(CHANGES)} changes "
        f"{time.monotonic() - built:.0f} s"
    )
    table = rerun_table(rows, total)
    print(table)
    text = README.read_text()
    match = readme_table(text)
    if os.environ.get("RERUN_TABLE") == "write":
        README.write_text(text[: match.start(1)] + table + text[match.end(1) :])
        return
    assert match.group(1).strip() == table, (
        "README's rerun table differs from what was measured; rerun with RERUN_TABLE=write "
        f"to update it. Measured:\n{table}"
    )
