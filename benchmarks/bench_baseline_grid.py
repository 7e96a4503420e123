"""Benchmark: where a toy baseline grid value puts the model between theta0 and plain
fine-tuning, by the weight distance to theta0 as a share of plain fine-tuning's.

Trains, with the toy config's baseline settings (``rule_params``, one epoch on an RSF pool
of the toy size), plain fine-tuning and each ``method=value`` given, on the stand-in of
``bench_baselines.py`` (a random toy-size LLaMA, a synthetic pool) or, with --results, on a
finished toy run's theta0 and pool. Used to choose the toy grids of the normalised penalty
terms (config/config.yaml, ``baselines``): the paper's weights are for lr 1e-5, the toy
trains at 5e-4.

    .venv/bin/python benchmarks/bench_baseline_grid.py l1=0.002 l1=0.01 distillation=1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))
sys.path.insert(0, str(REPO / "benchmarks"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", help="method=value, e.g. l1=0.01")
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    ap.add_argument("--results", default=None, help="a finished toy run (results/toy)")
    ap.add_argument("--out", default="/tmp/bench_baseline_grid")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "baseline_grid.json"))
    args = ap.parse_args()

    import torch
    import yaml
    from alignment_tax.baseline_models import rule_params
    from alignment_tax.baselines import train_baseline
    from bench_baselines import baseline_inputs
    from safetensors.torch import load_file

    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load(Path(args.config).read_text())
    out = Path(args.out)
    theta0, pool, pretrain, source = baseline_inputs(args.results, out, cfg)
    params = rule_params(cfg)
    reference = load_file(str(Path(theta0) / "model.safetensors"))

    def distance(model_dir: Path) -> float:
        w = load_file(str(model_dir / "model.safetensors"))
        return sum(float((w[k].float() - reference[k].float()).pow(2).sum()) for k in w) ** 0.5

    distances, seconds = {}, {}
    for run in ["plain=none", *args.runs]:
        method, value = run.split("=")
        model_dir = out / "models" / f"{method}_{value}"
        t0 = time.perf_counter()
        if not (model_dir / "model.safetensors").is_file():  # --out reused: keep what is there
            train_baseline(
                theta0,
                pool.parent,  # the RSF folder holding pool.jsonl
                model_dir,
                out / "work" / f"{method}_{value}",
                method,
                None if value == "none" else value,
                params,
                seed=cfg["seed"],
                pretrain_path=pretrain,
            )
        seconds[run] = time.perf_counter() - t0
        distances[run] = distance(model_dir)
        share = distances[run] / distances["plain=none"]
        print(f"{run}: distance {distances[run]:.3f} ({share:.0%} of plain)", flush=True)
    report = {
        "source": source,
        "distance_to_theta0": distances,
        "share_of_plain": {k: v / distances["plain=none"] for k, v in distances.items()},
        "seconds": seconds,
    }
    print(json.dumps(report, indent=2))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
