"""Benchmark: the toy training chain as the workflow runs it (Snakemake, N cores).

Copies the toy world data, tokenizer and base model of an existing run into a scratch run
(``results/<scratch>``), then times ``snakemake --cores N`` on the chain's targets: SFT and
the reward model, RSF, DPO, and PPO (warm-up + the representative KL coefficient). It then
checks that every model is bit-identical to the source run's (same config, same seeds).

    make run   # or any finished toy run
    .venv/bin/python benchmarks/bench_training_dag.py [--source toy] [--cores 2]

Writes benchmarks/results/training_dag.json and its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK_BEGIN = "<!-- bench_training_dag:begin -->"
MARK_END = "<!-- bench_training_dag:end -->"
MODELS = ("sft", "reward_model", "rlhf/rsf", "rlhf/dpo", "rlhf/ppo")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="toy", help="finished run to take data/base from")
    parser.add_argument("--scratch", default="bench_chain", help="run_name of the scratch run")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    src, dst = ROOT / "results" / args.source, ROOT / "results" / args.scratch
    if not (src / "models" / "base").is_dir():
        sys.exit(f"{src}/models/base missing: run the toy workflow first (make run)")
    shutil.rmtree(dst, ignore_errors=True)
    shutil.rmtree(ROOT / "logs" / args.scratch, ignore_errors=True)
    (dst / "models").mkdir(parents=True)
    shutil.copytree(src / "data", dst / "data")  # copy2 keeps mtimes: nothing upstream reruns
    for name in ("base", "tokenizer"):
        shutil.copytree(src / "models" / name, dst / "models" / name)
    targets = [str(dst.relative_to(ROOT) / "models" / "rlhf" / a) for a in ("rsf", "dpo", "ppo")]
    cmd = [str(ROOT / ".venv" / "bin" / "snakemake"), "--cores", str(args.cores), "--quiet",
           "--config", f"run_name={args.scratch}", "--", *targets]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=dict(os.environ), check=True, capture_output=True)
    seconds = time.perf_counter() - start
    identical = {m: digest(dst / "models" / m / "model.safetensors")
                 == digest(src / "models" / m / "model.safetensors") for m in MODELS}
    rm = json.loads((dst / "models" / "reward_model" / "metrics.json").read_text())
    result = {"cores": args.cores, "seconds": seconds, "identical_to_source": identical,
              "reward_model_test_accuracy": rm["test_accuracy"],
              "machine": platform.platform()}
    print(json.dumps(result, indent=1))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "training_dag.json").write_text(json.dumps(result, indent=2) + "\n")
    same = "yes" if all(identical.values()) else f"NO: {identical}"
    section = "\n".join([
        MARK_BEGIN,
        "## Toy training chain as the workflow runs it",
        "",
        f"`benchmarks/bench_training_dag.py --cores {args.cores}`: `snakemake --cores "
        f"{args.cores}` on the RSF, DPO and PPO models of a scratch run that starts from the "
        "toy world data and base model of a finished run (SFT and reward model in parallel, "
        "then RSF and DPO in parallel, then PPO warm-up and PPO at the representative KL).",
        "",
        f"- wall time: **{seconds:.0f} s** ({seconds / 60:.1f} min) on {args.cores} cores",
        f"- reward model held-out test accuracy: {rm['test_accuracy']:.3f}",
        f"- every model bit-identical to the source run's: {same}",
        MARK_END,
    ])
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_merge_grid import replace_section  # the one writer of RESULTS.md sections

    replace_section(ROOT / "benchmarks" / "RESULTS.md", section)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.rmtree(ROOT / "logs" / args.scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
