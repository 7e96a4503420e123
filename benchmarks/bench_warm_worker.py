"""Benchmark: evaluation jobs run cold (one interpreter each) vs in the warm worker.

Reruns the evaluation jobs (reward, common_sense, reading, translation) of a few variants
of an existing toy run through Snakemake, twice, side by side on the same machine:

  cold - ALIGNMENT_TAX_WARM_WORKER=0: every job imports torch, transformers, lm-eval;
  warm - ALIGNMENT_TAX_WARM_WORKER=1 with a fresh socket directory, so the time includes
         starting the server (alignment_tax.warm_worker).

It also checks that both ways write the same results (every field but timings).

    make run                                  # a toy run to rerun jobs of
    .venv/bin/python benchmarks/bench_warm_worker.py [--run toy] [--variants 4] [--cores 2]

Writes benchmarks/results/warm_worker.json and the section of benchmarks/RESULTS.md
between its markers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK_BEGIN = "<!-- bench_warm_worker:begin -->"
MARK_END = "<!-- bench_warm_worker:end -->"
GROUPS = ("reward", "common_sense", "reading", "translation")
TIMING_KEYS = {"seconds", "sample_seconds", "score_seconds"}


def targets(run: str, n_variants: int) -> list[str]:
    variants = sorted((ROOT / "results" / run / "eval" / "rsf" / "ma").glob("alpha*"))
    if not variants:
        sys.exit(f"no results/{run}/eval/rsf/ma/alpha*: run the toy workflow first (make run)")
    return [
        str(v.relative_to(ROOT) / f"{group}.json")
        for v in variants[:n_variants]
        for group in GROUPS
    ]


def results_of(files: list[str]) -> dict[str, dict]:
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in TIMING_KEYS}
        return value

    return {f: strip(json.loads((ROOT / f).read_text())) for f in files}


def run_jobs(files: list[str], cores: int, switch: str, tmpdir: str) -> float:
    env = {**os.environ, "ALIGNMENT_TAX_WARM_WORKER": switch, "TMPDIR": tmpdir}
    cmd = [str(ROOT / ".venv" / "bin" / "snakemake"), "--cores", str(cores), "--quiet",
           "--forcerun", *files, "--allowed-rules", "evaluate_benchmark", "evaluate_reward",
           "--", *files]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="toy")
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    files = targets(args.run, args.variants)
    seconds, outputs = {}, {}
    for mode, switch in (("cold", "0"), ("warm", "1")):
        with tempfile.TemporaryDirectory(prefix="warm-bench-") as tmpdir:
            seconds[mode] = run_jobs(files, args.cores, switch, tmpdir)
        outputs[mode] = results_of(files)
    same = outputs["cold"] == outputs["warm"]
    result = {
        "settings": {"run": args.run, "jobs": len(files), "cores": args.cores,
                     "machine": platform.platform()},
        "seconds": seconds,
        "seconds_per_job": {m: s / len(files) for m, s in seconds.items()},
        "ratio_cold_over_warm": seconds["cold"] / seconds["warm"],
        "identical_results": same,
    }
    print(json.dumps(result, indent=1))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "warm_worker.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        MARK_BEGIN,
        "## Evaluation jobs: a fresh interpreter each vs the warm worker",
        "",
        f"`benchmarks/bench_warm_worker.py --variants {args.variants} --cores {args.cores}`: "
        f"{len(files)} evaluation jobs of the toy run (RSF MA variants, 4 groups each) rerun "
        f"by `snakemake --cores {args.cores}`, wall time including Snakemake's start; the warm "
        "row includes starting the server. Same machine, one after the other.",
        "",
        "| way | wall seconds | seconds per job | ratio |",
        "|---|---|---|---|",
    ]
    for mode in ("cold", "warm"):
        ratio = seconds["cold"] / seconds[mode]
        lines.append(f"| {mode} | {seconds[mode]:.1f} | {seconds[mode] / len(files):.2f} | "
                     f"{ratio:.1f}x |")
    lines += ["", f"Results identical (all fields but timings): {'yes' if same else 'NO'}.",
              MARK_END]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_merge_grid import replace_section  # the one writer of RESULTS.md sections

    replace_section(ROOT / "benchmarks" / "RESULTS.md", "\n".join(lines))
    if not same:
        sys.exit("cold and warm runs wrote different results")


if __name__ == "__main__":
    main()
