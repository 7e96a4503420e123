"""Benchmark: how to cut the evaluation stage into jobs (issue: one job per variant?).

Reruns the evaluation of an existing toy run through Snakemake, side by side on the same
machine, in two job layouts, each with and without the warm worker:

  per group   - one job per (variant, group): reward, common_sense, reading, translation
                (the layout up to commit --before, run from a git worktree of it that
                shares this checkout's results/ and .venv);
  per variant - one job per variant for all benchmark categories (the model built once)
                and one reward job per variant (this checkout);
  cold / warm - ALIGNMENT_TAX_WARM_WORKER=0 (every job imports torch, transformers and
                lm-eval) or =1 (alignment_tax.warm_worker; the time includes starting it).

Wall time is Snakemake's, start and scheduling included: with many short jobs, Snakemake's
own process is a cost of its own (it re-examines every ready job's inputs after each job
ends). Both layouts must write the same results: JSON equal on every field but timings,
per-item CSVs byte for byte.

    make run                                       # a toy run to rerun the evaluation of
    .venv/bin/python benchmarks/bench_eval_jobs.py [--variants 24] [--before 2bf7c65]

Writes benchmarks/results/eval_jobs.json and its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_merge_grid import replace_section  # noqa: E402  the one writer of RESULTS.md
from bench_warm_worker import results_of  # noqa: E402  outputs without timings

MARK_BEGIN = "<!-- bench_eval_jobs:begin -->"
MARK_END = "<!-- bench_eval_jobs:end -->"
GROUPS = ("common_sense", "reading", "translation", "reward")
RULES = ("evaluate_benchmark", "evaluate_reward")


def variants_of(run: str, n: int) -> list[str]:
    eval_dir = ROOT / "results" / run / "eval"
    variants = sorted(str(p.parent.relative_to(eval_dir))
                      for p in eval_dir.rglob("reading.json"))
    if len(variants) < n:
        sys.exit(f"{len(variants)} evaluated variants under {eval_dir}, {n} asked: "
                 "run the toy workflow first (make run)")
    # spread over the methods, not the first n of one
    step = len(variants) / n
    return [variants[int(i * step)] for i in range(n)]


def worktree_of(revision: str, parent: Path) -> Path:
    tree = parent / "before"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), revision], cwd=ROOT,
                   check=True, capture_output=True)
    for shared in (".venv", "results"):
        (tree / shared).symlink_to(ROOT / shared)
    return tree


def run_layout(tree: Path, targets: list[str], cores: int, warm: str, tmpdir: str
               ) -> tuple[float, int]:
    """Seconds and jobs of one Snakemake run that evaluates the targets again."""
    for target in targets:  # nothing of an earlier layout's run may count as done
        for path in (ROOT / target, (ROOT / target).with_suffix(".items.csv")):
            path.unlink(missing_ok=True)
    env = {**os.environ, "ALIGNMENT_TAX_WARM_WORKER": warm, "TMPDIR": tmpdir}
    cmd = [str(ROOT / ".venv" / "bin" / "snakemake"), "--cores", str(cores),
           "--allowed-rules", *RULES, "--forcerun", *RULES, "--", *targets]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"snakemake failed in {tree}:\n{done.stderr[-3000:]}")
    jobs = sum(int(n) for rule, n in (line.split()[:2] for line in done.stderr.splitlines()
                                      if line.split()[:1] and line.split()[0] in RULES
                                      and len(line.split()) == 2))
    return seconds, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="toy")
    parser.add_argument("--variants", type=int, default=24)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--before", default="2bf7c65",
                        help="a commit of the one-job-per-(variant, group) layout")
    args = parser.parse_args()
    variants = variants_of(args.run, args.variants)
    targets = [f"results/{args.run}/eval/{v}/{g}.json" for v in variants for g in GROUPS]
    result = {"settings": {"run": args.run, "variants": variants, "cores": args.cores,
                           "before": args.before, "machine": platform.platform()},
              "layouts": {}}
    outputs = {}
    with tempfile.TemporaryDirectory(prefix="eval-jobs-") as scratch:
        scratch = Path(scratch)
        before = worktree_of(args.before, scratch)
        try:
            for layout, tree in (("per group", before), ("per variant", ROOT)):
                for warm in ("0", "1"):
                    name = f"{layout}, {'warm' if warm == '1' else 'cold'}"
                    tmpdir = scratch / name.replace(", ", "-").replace(" ", "_")
                    tmpdir.mkdir()
                    seconds, jobs = run_layout(tree, targets, args.cores, warm, str(tmpdir))
                    outputs[name] = results_of(
                        targets + [t.replace(".json", ".items.csv") for t in targets
                                   if not t.endswith("reward.json")])
                    result["layouts"][name] = {"seconds": seconds, "jobs": jobs}
                    print(name, seconds, jobs, flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT,
                           capture_output=True)
            shutil.rmtree(before, ignore_errors=True)
    first = next(iter(outputs.values()))
    result["identical_results"] = all(o == first for o in outputs.values())
    fastest = min(r["seconds"] for r in result["layouts"].values())
    for r in result["layouts"].values():
        r["over_fastest"] = r["seconds"] / fastest
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval_jobs.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        MARK_BEGIN,
        "## The evaluation stage: one job per (variant, group) or per variant",
        "",
        f"`benchmarks/bench_eval_jobs.py --variants {args.variants} --cores {args.cores} "
        f"--before {args.before}`: the reward and the three benchmark categories of "
        f"{args.variants} variants of the toy run (spread over every method), evaluated again "
        f"by `snakemake --cores {args.cores}`; wall time including Snakemake's start and "
        "scheduling, and, when warm, starting the warm worker. Same machine, one after the "
        "other.",
        "",
        "| layout | jobs | seconds | / fastest |",
        "|---|---|---|---|",
    ]
    for name, r in result["layouts"].items():
        lines.append(f"| {name} | {r['jobs']} | {r['seconds']:.1f} | {r['over_fastest']:.2f}x |")
    lines += ["", "Same results in every layout: "
              f"{'yes' if result['identical_results'] else 'NO'} (JSON equal on every field "
              "but timings, per-item CSVs byte-identical).", MARK_END]
    replace_section(ROOT / "benchmarks" / "RESULTS.md", "\n".join(lines))
    if not result["identical_results"]:
        sys.exit("the layouts wrote different results")


if __name__ == "__main__":
    main()
