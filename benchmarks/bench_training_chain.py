"""Benchmark: the toy configuration's training chain (SFT, RM, RSF, DPO, PPO) on the CPU,
timed per stage, with the reward of every model on the held-out eval prompts.

Runs the library functions with exactly the parameters rules/training.smk gives them
(config sections sft, reward_model, rlhf), on a toy world's data and base model:

    .venv/bin/python benchmarks/bench_training_chain.py --results results/toy \
        [--config config/config.yaml] [--threads 2] [--out /tmp/chain] [--stages sft,rm,rsf,dpo,ppo]

Reports per stage: wall seconds; per model (theta0, rsf, dpo, ppo): mean reward-model score
of one sample per eval prompt (T = rlhf.temperature), the hidden reward and the share of
polite answers; and the reward model's held-out accuracy and agreement with the hidden
reward. Writes benchmarks/results/training_chain.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True, help="folder with data/ and models/base")
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    ap.add_argument("--out", default="/tmp/bench_training_chain")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stages", default="sft,rm,rsf,dpo,ppo,eval")
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "training_chain.json"))
    args = ap.parse_args()

    import torch
    import yaml

    torch.set_num_threads(args.threads)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from alignment_tax.dpo import train_dpo
    from alignment_tax.io import read_jsonl
    from alignment_tax.ppo import train_ppo, train_ppo_warmup
    from alignment_tax.reward_eval import evaluate_reward
    from alignment_tax.reward_model import train_reward_model
    from alignment_tax.rsf import train_rsf
    from alignment_tax.sft import train_sft
    from alignment_tax.toy_reward import hidden_reward, is_polite
    from alignment_tax.training_common import load_causal_lm, load_reward_model, load_tokenizer

    cfg = yaml.safe_load(Path(args.config).read_text())
    seed, rlhf = cfg["seed"], cfg["rlhf"]
    shared = {
        k: rlhf[k]
        for k in ("micro_batch_size", "save_steps", "bf16", "gradient_checkpointing")
        if k in rlhf
    }
    data, base = Path(args.results) / "data", Path(args.results) / "models" / "base"
    out = Path(args.out)
    m, work = out / "models", out / "work"
    stages = args.stages.split(",")
    times: dict[str, float] = {}
    cpu_times: dict[str, float] = {}

    def timed(name, fn):
        # wall time depends on what else runs on the machine; CPU seconds of this process
        # (all threads) divided by --threads estimates the wall time on idle cores
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        times[name] = round(time.perf_counter() - start, 1)
        cpu_times[name] = round(time.process_time() - cpu, 1)
        print(f"[{name}] {times[name]} s wall, {cpu_times[name]} s CPU", flush=True)
        return result

    rm_metrics = None
    if "sft" in stages:
        timed(
            "sft",
            lambda: train_sft(
                base,
                data / "sharegpt.json",
                m / "sft",
                work / "sft",
                cfg["sft"],
                seed=seed,
                hh_train_path=data / "hh_rlhf/train.jsonl",
            ),
        )
    if "rm" in stages:
        rm_metrics = timed(
            "reward_model",
            lambda: train_reward_model(
                base,
                data / "hh_rlhf/train.jsonl",
                data / "hh_rlhf/test.jsonl",
                m / "reward_model",
                work / "rm",
                cfg["reward_model"],
                seed=seed,
                test_truth_path=data / "hh_rlhf/test_truth.jsonl",
            ),
        )
        print(json.dumps(rm_metrics, indent=1), flush=True)
    if "rsf" in stages:
        p = {
            **shared,
            **rlhf["rsf"],
            "max_new_tokens": rlhf["max_new_tokens"],
            "temperature": rlhf["temperature"],
            "max_length": cfg["sft"]["max_length"],
        }
        rsf = timed(
            "rsf",
            lambda: train_rsf(
                m / "sft",
                m / "reward_model",
                data / "prompts/rlhf_train.jsonl",
                m / "rlhf/rsf",
                work / "rsf",
                p,
                seed=seed,
            ),
        )
        print(json.dumps(rsf, indent=1), flush=True)
    if "dpo" in stages:
        p = {**shared, **rlhf["dpo"], "max_length": cfg["reward_model"]["max_length"]}
        dpo = timed(
            "dpo",
            lambda: train_dpo(
                m / "sft",
                data / "hh_rlhf/train.jsonl",
                m / "rlhf/dpo",
                work / "dpo",
                p,
                beta=rlhf["dpo"]["beta"],
                heldout_fraction=cfg["reward_model"]["heldout_fraction"],
                seed=seed,
            ),
        )
        print(json.dumps(dpo["selected"]), flush=True)
    if "ppo" in stages:
        p = {**shared, **rlhf["ppo"], "max_length": cfg["sft"]["max_length"]}
        timed(
            "ppo_warmup",
            lambda: train_ppo_warmup(
                m / "sft",
                data / "hh_rlhf/train.jsonl",
                m / "rlhf/ppo_warmup",
                work / "ppo_warmup",
                p,
                heldout_fraction=cfg["reward_model"]["heldout_fraction"],
                seed=seed,
            ),
        )
        ppo = timed(
            "ppo",
            lambda: train_ppo(
                m / "rlhf/ppo_warmup",
                m / "reward_model",
                data / "prompts/rlhf_train.jsonl",
                m / "rlhf/ppo",
                work / "ppo",
                p,
                kl_coef=rlhf["ppo"]["kl_coef"],
                max_new_tokens=rlhf["max_new_tokens"],
                temperature=rlhf["temperature"],
                seed=seed,
            ),
        )
        scores = [r["objective/scores"] for r in ppo["log"] if "objective/scores" in r]
        print("ppo scores per update:", [round(s, 2) for s in scores], flush=True)

    evals = {}
    if "eval" in stages:
        tok = load_tokenizer(m / "sft")
        rm = load_reward_model(m / "reward_model", pad_token_id=tok.pad_token_id)
        rows = read_jsonl(data / "prompts/eval.jsonl")
        ev = cfg["evaluation"]["reward"]
        for name, path in [
            ("theta0", m / "sft"),
            ("rsf", m / "rlhf/rsf"),
            ("dpo", m / "rlhf/dpo"),
            ("ppo_warmup", m / "rlhf/ppo_warmup"),
            ("ppo", m / "rlhf/ppo"),
        ]:
            if not (path / "config.json").exists():
                continue
            res = evaluate_reward(
                load_causal_lm(path),
                tok,
                rm,
                tok,
                rows,
                n_prompts=ev["n_prompts"],
                max_new_tokens=ev["max_new_tokens"],
                temperature=ev["temperature"],
                batch_size=ev["batch_size"],
                seed=seed,
                hidden_reward=hidden_reward,
            )
            polite = sum(is_polite(s["response"]) for s in res["samples"]) / len(res["samples"])
            evals[name] = {
                "rm_reward": round(res["reward"]["mean"], 3),
                "rm_stderr": round(res["reward"]["stderr"], 3),
                "hidden_reward": round(res["true_reward"]["mean"], 3),
                "polite": round(polite, 3),
                "length_words": round(res["length_words"]["mean"], 1),
            }
            print(name, evals[name], "|", res["samples"][0]["response"][:100], flush=True)
    summary = {
        "threads": args.threads,
        "seconds": times,
        "total_seconds": round(sum(times.values()), 1),
        "cpu_seconds": cpu_times,
        "total_cpu_seconds": round(sum(cpu_times.values()), 1),
        "reward_model": rm_metrics,
        "eval": evals,
    }
    print(json.dumps(summary, indent=1))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
