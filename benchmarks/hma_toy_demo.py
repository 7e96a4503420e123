"""Do HMA's fitted ratios move away from alpha? A learning-rate sweep on one toy pair.

Ratios are weights on theta0 (merged part k = r_k * theta0 + (1 - r_k) * theta).
Runs the library path of rules build_hma_dataset + fit_hma (no Snakemake) on given
checkpoints, with the toy configuration's HMA settings (config/config.yaml merging.hma),
for K in --ks, alpha in --alphas and lr in --lrs (default: the paper's 2e-5, 5e-3 and the
toy config's candidates merging.hma.lrs), epsilon = the first of merging.hma.epsilons.

    .venv/bin/python benchmarks/hma_toy_demo.py --theta0 results/toy/models/sft \\
        --theta results/toy/models/rlhf/rsf --prompts results/toy/data/prompts/rlhf_train.jsonl \\
        [--reward-model results/toy/models/reward_model]

Writes benchmarks/results/hma_toy_demo.json and its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow_scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))

MARK_BEGIN = "<!-- hma_toy_demo:begin -->"
MARK_END = "<!-- hma_toy_demo:end -->"


def main() -> None:
    import torch
    import yaml
    from alignment_tax.hma import FitSettings, build_dataset, fit_ratios, load_pair_for_fit
    from alignment_tax.io import read_jsonl
    from alignment_tax.merging import part_ranges
    from alignment_tax.variants import policies
    from bench_merge_grid import replace_section
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--theta0", required=True)
    parser.add_argument("--theta", required=True)
    parser.add_argument("--prompts", required=True)
    parser.add_argument("--reward-model", default=None)
    parser.add_argument("--ks", type=int, nargs="+", default=[3])
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.2, 0.4])
    parser.add_argument("--lrs", type=float, nargs="+", default=None)
    parser.add_argument("--label", default="toy pair")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    hma = config["merging"]["hma"]
    seed = config["seed"]

    tokenizer = AutoTokenizer.from_pretrained(args.theta)
    policy = AutoModelForCausalLM.from_pretrained(args.theta).eval()
    rm = rm_tok = None
    if args.reward_model:
        rm = AutoModelForSequenceClassification.from_pretrained(args.reward_model).eval()
        rm_tok = AutoTokenizer.from_pretrained(args.reward_model)
    prompts = [row["prompt"] for row in read_jsonl(args.prompts)]
    t = time.perf_counter()
    data = build_dataset(policy, rm, tokenizer, prompts, n_top=hma["n_top_samples"],
                         n_train=hma["n_train_samples"],
                         max_new_tokens=config["rlhf"]["max_new_tokens"],
                         temperature=config["rlhf"]["temperature"], batch_size=64, seed=seed,
                         rm_tokenizer=rm_tok)
    data_seconds = time.perf_counter() - t
    examples = [(r["prompt"], r["response"]) for r in data]
    num_layers = policy.config.num_hidden_layers
    del policy

    rows = []
    lrs = sorted(set(args.lrs or [2e-5, 5e-3, *hma["lrs"]]))
    epsilon = hma["epsilons"][0]
    for k in args.ks:
        for alpha in args.alphas:
            for lr in lrs:
                model, theta_state = load_pair_for_fit(args.theta0, args.theta)
                settings = FitSettings(alpha=alpha, lr=lr, epsilon=epsilon,
                                       scheduler=hma["scheduler"],
                                       warmup_ratio=hma["warmup_ratio"], epochs=hma["epochs"],
                                       batch_size=hma["batch_size"],
                                       max_length=hma["block_size"],
                                       l1_weight=hma["l1_weight"], seed=seed)
                t = time.perf_counter()
                summary = {}
                ratios, curve = fit_ratios(model, theta_state, tokenizer, examples,
                                           ranges=part_ranges(num_layers, k),
                                           policies=policies(config, "hma"), settings=settings,
                                           summary=summary)
                rows.append({"K": k, "alpha": alpha, "lr": lr, "ratios": ratios,
                             "max_moved": max(abs(r - alpha) for r in ratios), **summary,
                             "steps": len(curve), "seconds": time.perf_counter() - t})
                print(json.dumps(rows[-1]))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    result = {"args": vars(args), "hma_config": hma, "n_examples": len(examples),
              "ranked_by_reward": rm is not None, "data_seconds": data_seconds, "rows": rows}
    (out / "hma_toy_demo.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [MARK_BEGIN, "## HMA on a toy pair: learning-rate sweep", "",
             f"`benchmarks/hma_toy_demo.py` on {args.label} ({num_layers} layers): D_theta = "
             f"{len(examples)} answers of theta to RLHF training prompts"
             f"{' ranked by the reward model' if rm is not None else ' (not ranked)'}; "
             f"merging.hma settings of config/config.yaml ({hma['epochs']} epoch, batch "
             f"{hma['batch_size']}, {hma['scheduler']} schedule, epsilon {epsilon}). "
             "Ratios are weights on theta0; their mean is alpha by construction.", "",
             "| K | alpha | lr | steps | fitted ratios | max abs(r - alpha) | "
             "D_theta NLL: all ratios = alpha -> fitted |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['K']} | {r['alpha']:g} | {r['lr']:g} | {r['steps']} | "
                     f"{', '.join(f'{x:.4f}' for x in r['ratios'])} | {r['max_moved']:.5f} | "
                     f"{r['nll_at_alpha']:.4f} -> {r['nll_fitted']:.4f} |")
    lines.append(MARK_END)
    replace_section(ROOT / "benchmarks" / "RESULTS.md", "\n".join(lines))


if __name__ == "__main__":
    main()
