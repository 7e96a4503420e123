"""Benchmark: one toy-config fine-tune per baseline method, timed on the CPU.

Builds a stand-in for the toy chain's outputs when they are missing: a random LLaMA with the
toy architecture (config toy_world.architecture), a BPE tokenizer of toy_world.tokenizer
vocab trained on a small toy world, and an RSF pool of rlhf.rsf.iterations x
prompts_per_iteration rows (the size the real pool has) whose responses are pretraining
sentences. With --results pointing at a finished toy run, its real sft model, pool and
pretraining data are used instead.

    .venv/bin/python benchmarks/bench_baselines.py [--results results/toy] [--threads 1]

Prints seconds per method (one value each, the first of its grid) and the estimate for the
whole toy grid (sum over the grid of that method's time, replay scaled by its data size);
writes benchmarks/results/baselines.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))


def stand_in(root: Path, cfg: dict) -> tuple[Path, Path, Path]:
    """(theta0 dir, pool.jsonl, pretrain.jsonl) of the toy size, built from scratch."""
    import torch
    from alignment_tax.io import read_jsonl, write_jsonl
    from alignment_tax.tokenizer_training import corpus_texts, train_tokenizer
    from alignment_tax.toy_world import generate_toy_world
    from transformers import LlamaConfig, LlamaForCausalLM

    data, theta0 = root / "data", root / "theta0"
    if not (data / "pretrain.jsonl").exists():
        generate_toy_world(data, cfg["seed"], {"n_pretrain_docs": 3000, "n_sharegpt": 400})
    if not (theta0 / "config.json").exists():
        tw = cfg["toy_world"]
        tok = train_tokenizer(
            corpus_texts(data / "pretrain.jsonl", data / "sharegpt.json"),
            tw["tokenizer"]["vocab_size"],
        )
        arch = tw["architecture"]
        model_cfg = LlamaConfig(
            vocab_size=len(tok),
            **arch,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id,
        )
        torch.manual_seed(0)
        LlamaForCausalLM(model_cfg).save_pretrained(theta0)
        tok.save_pretrained(theta0)
    pool = root / "pool.jsonl"
    rsf = cfg["rlhf"]["rsf"]
    n = rsf["iterations"] * rsf["prompts_per_iteration"]
    prompts = read_jsonl(data / "prompts" / "rlhf_train.jsonl")
    docs = [r["text"] for r in read_jsonl(data / "pretrain.jsonl")]
    rng = random.Random(0)
    rows = [
        {
            "iteration": 1 + i * rsf["iterations"] // n,
            "prompt": prompts[i % len(prompts)]["prompt"],
            "response": " " + " ".join(rng.choice(docs).split()[:30]),
            "reward": 0.0,
            "mean_reward": 0.0,
        }
        for i in range(n)
    ]
    write_jsonl(pool, rows)
    return theta0, pool, data / "pretrain.jsonl"


def baseline_inputs(results: str | None, out: Path, cfg: dict) -> tuple[Path, Path, Path, str]:
    """theta0, the RSF pool and the pretraining sample: of a finished toy run, or a stand-in."""
    if results:
        res = Path(results)
        return (
            res / "models" / "sft",
            res / "models" / "rlhf" / "rsf" / "pool.jsonl",
            res / "data" / "pretrain.jsonl",
            f"toy run {res}",
        )
    theta0, pool, pretrain = stand_in(out / "stand_in", cfg)
    source = "stand-in (random toy-size model, synthetic pool of the toy size)"
    return theta0, pool, pretrain, source


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    ap.add_argument("--results", default=None, help="a finished toy run (results/toy)")
    ap.add_argument("--out", default="/tmp/bench_baselines")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--methods", default="l1,l2,lora_mlp,lora_mlp_attn,distillation,sma,replay")
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "baselines.json"))
    args = ap.parse_args()

    import torch
    import yaml

    torch.set_num_threads(args.threads)
    from alignment_tax.baseline_models import TRAINED_METHODS, rule_params
    from alignment_tax.baselines import train_baseline

    cfg = yaml.safe_load(Path(args.config).read_text())
    out = Path(args.out)
    theta0, pool, pretrain, source = baseline_inputs(args.results, out, cfg)
    b = cfg["baselines"]
    params = rule_params(cfg)  # exactly what rule train_baseline passes
    seconds, estimate = {}, {}
    for method in args.methods.split(","):
        grid = b.get(TRAINED_METHODS[method], [])
        if not grid:
            continue
        value = grid[0]
        t0 = time.perf_counter()
        train_baseline(
            theta0,
            pool.parent,  # the RSF folder holding pool.jsonl
            out / "models" / method,
            out / "work" / method,
            method,
            value,
            params,
            seed=cfg["seed"],
            pretrain_path=pretrain,
        )
        seconds[method] = time.perf_counter() - t0
        if method == "replay":  # time grows with the data: (1 + ratio) x pool
            estimate[method] = sum(seconds[method] * (1 + r) / (1 + value) for r in grid)
        else:
            estimate[method] = seconds[method] * len(grid)
        print(
            f"{method}={value}: {seconds[method]:.1f} s; grid of {len(grid)}: "
            f"{estimate[method]:.0f} s",
            flush=True,
        )
    report = {
        "source": source,
        "threads": args.threads,
        "torch": torch.__version__,
        "seconds_one_value": seconds,
        "estimated_grid_seconds": estimate,
        "estimated_total_seconds_one_core": sum(estimate.values()),
    }
    print(json.dumps(report, indent=2))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
