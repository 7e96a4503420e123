"""Benchmark: what one evaluation job costs on the toy world (per variant and group).

Builds a toy world (alignment_tax.toy_world, default benchmark and eval-prompt sizes), a
random (theta0, theta) pair and reward model with the toy architecture of
config/config.yaml, and a whole-model-averaging recipe at alpha 0.5; then times, in one
process, the steps of the evaluation jobs of that variant:

  startup   - a fresh interpreter importing torch, transformers and lm-eval (every job
              pays this; measured in a subprocess);
  load      - building the variant from its recipe (alignment_tax.eval_models.load_variant);
  <group>   - alignment_tax.benchmarks.evaluate_category for common_sense, reading and
              translation, and alignment_tax.reward_eval.evaluate_reward;
  env report - lm-eval's environment report (torch's collect_env), which simple_evaluate
              runs on every call and the benchmark jobs skip (median of 3 calls).

Random weights never emit EOS, so every generation runs to its token limit: the times are
an upper bound for trained models, which stop early.

    .venv/bin/python benchmarks/bench_eval_job.py [--threads 1]

Writes benchmarks/results/eval_job.json and the section of benchmarks/RESULTS.md between
its markers.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow_scripts"))

import torch  # noqa: E402
import yaml  # noqa: E402

MARK_BEGIN = "<!-- bench_eval_job:begin -->"
MARK_END = "<!-- bench_eval_job:end -->"
STARTUP = "import torch, transformers, lm_eval; from lm_eval.models.huggingface import HFLM"


def build_world(root: Path, config: dict) -> dict:
    from alignment_tax.io import read_jsonl, write_json
    from alignment_tax.recipes import make_recipe
    from alignment_tax.tokenizer_training import train_tokenizer
    from alignment_tax.toy_world import generate_toy_world
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    world = config["toy_world"]
    params = {"n_pretrain_docs": 2000, "n_sharegpt": 200, "n_preference_pairs": 50,
              "n_preference_test_pairs": 20, "n_rlhf_train_prompts": 40,
              "n_eval_prompts": world["n_eval_prompts"],
              "n_benchmark_items": world["n_benchmark_items"]}
    generate_toy_world(root / "data", config["seed"], params)
    texts = [r["text"] for r in read_jsonl(root / "data" / "pretrain.jsonl")]
    tokenizer = train_tokenizer(texts, world["tokenizer"]["vocab_size"])
    arch = {**world["architecture"], "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
            "bos_token_id": tokenizer.bos_token_id}
    for seed, name in enumerate(["sft", "theta", "reward_model"]):
        torch.manual_seed(seed)
        if name == "reward_model":
            model = LlamaForSequenceClassification(LlamaConfig(num_labels=1, **arch))
        else:
            model = LlamaForCausalLM(LlamaConfig(**arch))
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
    layers = arch["num_hidden_layers"]
    recipe = make_recipe("rsf/ma/alpha0.5", theta0=str(root / "sft"), theta=str(root / "theta"),
                         layer_ratios=[0.5] * layers, global_ratio=0.5,
                         policies={"norms": "part", "embeddings": "part", "lm_head": "part"},
                         meta={"pair": "rsf", "algorithm": "rsf", "method": "ma", "alpha": 0.5})
    write_json(root / "recipe.json", recipe)
    n_params = sum(p.numel() for p in LlamaForCausalLM(LlamaConfig(**arch)).parameters())
    return {"n_params": n_params, "vocab": len(tokenizer)}


def run(args) -> dict:
    from alignment_tax.benchmarks import evaluate_category
    from alignment_tax.eval_models import load_reward_model, load_variant
    from alignment_tax.io import read_jsonl
    from alignment_tax.reward_eval import evaluate_reward
    from alignment_tax.toy_reward import hidden_reward
    from alignment_tax.toy_tasks import task_include_dir

    torch.set_num_threads(args.threads)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    evaluation = config["evaluation"]
    times: dict[str, float] = {}

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", STARTUP], check=True, capture_output=True)
    times["startup"] = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sizes = build_world(root, config)
        start = time.perf_counter()
        model, tokenizer, _ = load_variant(root / "recipe.json", device="cpu")
        times["load"] = time.perf_counter() - start
        scores = {}
        for group, tasks in evaluation["benchmarks"].items():
            start = time.perf_counter()
            out = evaluate_category(model, tokenizer, group, tasks,
                                    task_dir=task_include_dir(root / "data" / "tasks"),
                                    batch_size=evaluation["batch_size"], seed=config["seed"])
            times[group] = time.perf_counter() - start
            scores[group] = out["category"]["value"]
        reward_model, reward_tokenizer = load_reward_model(root / "reward_model", device="cpu")
        reward = evaluation["reward"]
        start = time.perf_counter()
        out = evaluate_reward(model, tokenizer, reward_model, reward_tokenizer,
                              read_jsonl(root / "data" / "prompts" / "eval.jsonl"),
                              n_prompts=reward["n_prompts"],
                              max_new_tokens=reward["max_new_tokens"],
                              temperature=reward["temperature"], batch_size=reward["batch_size"],
                              seed=config["seed"], hidden_reward=hidden_reward)
        times["reward"] = time.perf_counter() - start
        scores["reward"] = out["reward"]["mean"]

    import statistics

    from lm_eval.loggers.utils import add_env_info

    report = []
    for _ in range(3):
        start = time.perf_counter()
        add_env_info({})
        report.append(time.perf_counter() - start)
    times["env_report"] = statistics.median(report)

    groups = [*evaluation["benchmarks"], "reward"]
    per_job = {g: times["startup"] + times["load"] + times[g] for g in groups}
    return {
        "settings": {"threads": args.threads, "architecture": config["toy_world"]["architecture"],
                     "n_benchmark_items": config["toy_world"]["n_benchmark_items"],
                     "n_eval_prompts": reward["n_prompts"], "batch_size": evaluation["batch_size"],
                     "machine": platform.platform(), "torch": torch.__version__, **sizes},
        "seconds": times,
        "job_seconds": per_job,
        "variant_seconds": sum(per_job.values()),
        "scores_random_model": scores,
    }


def write_results(result: dict) -> None:
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval_job.json").write_text(json.dumps(result, indent=2) + "\n")
    s, t = result["settings"], result["seconds"]
    lines = [
        MARK_BEGIN,
        "## Evaluation jobs on the toy world: seconds per (variant, group)",
        "",
        f"`benchmarks/bench_eval_job.py --threads {s['threads']}`: toy architecture "
        f"({s['n_params'] / 1e6:.2f}M parameters, vocab {s['vocab']}), random weights (every "
        f"generation runs to its token limit: an upper bound), {s['n_benchmark_items']} items "
        f"per task, {s['n_eval_prompts']} reward prompts, batch {s['batch_size']}; CPU "
        f"({s['threads']} thread(s), a shared 2-core machine), torch {s['torch']}.",
        "",
        "| group | interpreter + imports | load variant | evaluate | job total |",
        "|---|---|---|---|---|",
    ]
    for group, total in result["job_seconds"].items():
        lines.append(f"| {group} | {t['startup']:.1f} | {t['load']:.1f} | {t[group]:.1f} | "
                     f"{total:.1f} |")
    lines += ["", f"One variant (all four groups as separate jobs): "
              f"{result['variant_seconds']:.0f} s of CPU-bound time, plus Snakemake's own "
              "per-job overhead. lm-eval's environment report (torch's collect_env, run by "
              "every simple_evaluate call) takes "
              f"{t['env_report']:.2f} s; the benchmark jobs skip it "
              "(alignment_tax.benchmarks), so it is not in the times above.", MARK_END]
    from bench_merge_grid import replace_section  # the one writer of RESULTS.md sections

    replace_section(ROOT / "benchmarks" / "RESULTS.md", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    result = run(args)
    print(json.dumps({k: result[k] for k in ("seconds", "job_seconds", "variant_seconds")},
                     indent=1))
    write_results(result)


if __name__ == "__main__":
    main()
