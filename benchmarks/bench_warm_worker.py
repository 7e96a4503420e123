"""Benchmark: rule jobs run cold (one interpreter each) vs in the warm worker.

Reruns jobs of an existing toy run through Snakemake, twice, side by side on the same
machine, for three kinds of job:

  evaluation - the reward, common_sense, reading and translation jobs of a few variants;
  training   - a few baseline fine-tunes of theta0 on the RSF pool (rule train_baseline);
  figures    - every figure (rule figure).

  cold - ALIGNMENT_TAX_WARM_WORKER=0: every job imports its stack (torch, transformers,
         lm-eval, TRL, matplotlib, ...);
  warm - ALIGNMENT_TAX_WARM_WORKER=1 with a fresh socket directory, so the time includes
         starting the server (alignment_tax.warm_worker);
  running - the same jobs again at once, while that server still runs (as in a DAG).

It also checks that both ways write the same results: JSON files compared on every field
but timings, other files byte for byte (model weights included).

    make run                                  # a toy run to rerun jobs of
    .venv/bin/python benchmarks/bench_warm_worker.py [--run toy] [--variants 4] [--cores 2]

Writes benchmarks/results/warm_worker.json and the section of benchmarks/RESULTS.md
between its markers.
"""

from __future__ import annotations

import argparse
import hashlib
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
BASELINES = ("l2/0.01", "l2/0.1", "lora_mlp/16", "sma/0.9")
TIMING_KEYS = {"seconds", "sample_seconds", "score_seconds", "train_runtime",
               "train_samples_per_second", "train_steps_per_second", "wall_seconds"}


def evaluation_targets(run: str, n_variants: int) -> list[str]:
    variants = sorted((ROOT / "results" / run / "eval" / "rsf" / "ma").glob("alpha*"))
    if not variants:
        sys.exit(f"no results/{run}/eval/rsf/ma/alpha*: run the toy workflow first (make run)")
    return [str(v.relative_to(ROOT) / f"{group}.json") for v in variants[:n_variants]
            for group in GROUPS]


def training_targets(run: str) -> list[str]:
    base = ROOT / "results" / run / "models" / "baselines" / "rsf"
    missing = [b for b in BASELINES if not (base / b).is_dir()]
    if missing:
        sys.exit(f"no baselines {missing} under {base}: run the toy workflow first (make run)")
    return [str((base / b).relative_to(ROOT)) for b in BASELINES]


def figure_targets(run: str) -> list[str]:
    figures = sorted((ROOT / "results" / run / "figures").glob("fig*.pdf"))
    if not figures:
        sys.exit(f"no results/{run}/figures/fig*.pdf: run the toy workflow first (make run)")
    return [str(f.relative_to(ROOT)) for f in figures]


RULES = {  # kind -> the rules allowed to run
    "evaluation": ("evaluate_benchmark", "evaluate_reward"),
    "training": ("train_baseline",),
    "figures": ("figure",),
}


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def results_of(targets: list[str]) -> dict[str, object]:
    """What the jobs wrote: JSON without timings, other files by digest.

    Figures are left out of the byte comparison (PDFs embed their creation date) but their
    JSON summaries are compared."""
    files = []
    for target in targets:
        path = ROOT / target
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file())
        else:
            files.append(path.with_suffix(".json") if path.suffix == ".pdf" else path)
    out = {}
    for f in files:
        key = str(f.relative_to(ROOT))
        if f.suffix == ".json":
            out[key] = _strip(json.loads(f.read_text()))
        else:
            out[key] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def run_jobs(targets: list[str], rules: tuple[str, ...], cores: int, switch: str,
             tmpdir: str) -> float:
    env = {**os.environ, "ALIGNMENT_TAX_WARM_WORKER": switch, "TMPDIR": tmpdir}
    cmd = [str(ROOT / ".venv" / "bin" / "snakemake"), "--cores", str(cores), "--quiet",
           "--forcerun", *targets, "--allowed-rules", *rules, "--", *targets]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="toy")
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--kinds", nargs="+", default=list(RULES), choices=list(RULES))
    args = parser.parse_args()
    targets_of = {
        "evaluation": lambda: evaluation_targets(args.run, args.variants),
        "training": lambda: training_targets(args.run),
        "figures": lambda: figure_targets(args.run),
    }
    result = {"settings": {"run": args.run, "cores": args.cores, "variants": args.variants,
                           "baselines": list(BASELINES), "machine": platform.platform()},
              "kinds": {}}
    for kind in args.kinds:
        rules, targets = RULES[kind], targets_of[kind]()
        seconds, outputs = {}, {}
        with tempfile.TemporaryDirectory(prefix="warm-bench-") as tmpdir:
            seconds["cold"] = run_jobs(targets, rules, args.cores, "0", tmpdir)
            outputs["cold"] = results_of(targets)
        with tempfile.TemporaryDirectory(prefix="warm-bench-") as tmpdir:
            # first with a server to start, then again while it still runs (as in a DAG)
            for mode in ("warm", "running"):
                seconds[mode] = run_jobs(targets, rules, args.cores, "1", tmpdir)
                outputs[mode] = results_of(targets)
        result["kinds"][kind] = {
            "jobs": len(targets),
            "seconds": seconds,
            "seconds_per_job": {m: s / len(targets) for m, s in seconds.items()},
            "ratio_cold_over_warm": seconds["cold"] / seconds["warm"],
            "ratio_cold_over_running": seconds["cold"] / seconds["running"],
            "identical_results": outputs["cold"] == outputs["warm"] == outputs["running"],
        }
        print(kind, json.dumps(result["kinds"][kind]), flush=True)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "warm_worker.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        MARK_BEGIN,
        "## Rule jobs: a fresh interpreter each vs the warm worker",
        "",
        f"`benchmarks/bench_warm_worker.py --variants {args.variants} --cores {args.cores}`: "
        f"jobs of the toy run rerun by `snakemake --cores {args.cores}`, wall time including "
        "Snakemake's start. warm: the server has to start first; running: the same jobs "
        "again while that server still runs, as in a DAG where other jobs started it. "
        "Evaluation: the 4 "
        f"groups of {args.variants} RSF MA variants; training: the baselines "
        f"{', '.join(BASELINES)}; figures: every toy figure. Same machine, one after the "
        "other.",
        "",
        "| jobs | n | cold s | warm s | running s | cold / warm | cold / running | "
        "same results |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, r in result["kinds"].items():
        s = r["seconds"]
        lines.append(
            f"| {kind} | {r['jobs']} | {s['cold']:.1f} | {s['warm']:.1f} | {s['running']:.1f} | "
            f"{r['ratio_cold_over_warm']:.2f}x | {r['ratio_cold_over_running']:.2f}x | "
            f"{'yes' if r['identical_results'] else 'NO'} |")
    lines += ["", "Same results: JSON outputs equal on every field but timings, every other "
              "output file (model weights included) byte-identical; PDFs are compared through "
              "their JSON summaries (they embed a creation date).", MARK_END]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_merge_grid import replace_section  # the one writer of RESULTS.md sections

    replace_section(ROOT / "benchmarks" / "RESULTS.md", "\n".join(lines))
    if not all(r["identical_results"] for r in result["kinds"].values()):
        sys.exit("cold and warm runs wrote different results")


if __name__ == "__main__":
    main()
