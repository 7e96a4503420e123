"""Benchmark: evaluating an 11-point alpha grid (whole-model averaging) three ways, side by
side in one run on the same (theta0, theta) pair:

  recipes    - write a few-KB recipe per point, build the merged weights in memory from
               theta0/theta loaded once (alignment_tax.recipes.materialize), evaluate;
  checkpoint - per point: merge, write a Hugging Face checkpoint (export_recipe), load it
               back, evaluate;
  mergekit   - per point: write a mergekit YAML (linear, base_model set), run the
               mergekit-yaml CLI, load the checkpoint, evaluate.

Convention: alpha is the weight on theta0 (merged = alpha * theta0 + (1 - alpha) * theta).
"Evaluate" is the same fixed forward pass (mean token NLL of a fixed batch) for all three,
so the comparison is of the merge + I/O path, not of an evaluation suite; the three must
give the same NLL per alpha (checked).

    .venv/bin/python benchmarks/bench_merge_grid.py [--hidden 512 --layers 8 --vocab 8000]

Writes benchmarks/results/merge_grid.json and the section of benchmarks/RESULTS.md
between its markers.
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
sys.path.insert(0, str(ROOT / "workflow_scripts"))
sys.path.insert(0, str(ROOT / "tests"))

import torch  # noqa: E402
from alignment_tax.recipes import ModelCache, export_recipe, make_recipe, materialize  # noqa: E402
from alignment_tax.variants import DEFAULT_POLICIES  # noqa: E402

MARK_BEGIN = "<!-- bench_merge_grid:begin -->"
MARK_END = "<!-- bench_merge_grid:end -->"


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def make_pair(root: Path, hidden: int, layers: int, vocab: int):
    from test_merging import tiny_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=hidden * 8 // 3,
                         num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
                         max_position_embeddings=256, tie_word_embeddings=False)
    dirs = []
    for name, seed in (("theta0", 0), ("theta", 1)):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
        path = root / name
        model.save_pretrained(path)
        tiny_tokenizer().save_pretrained(path)
        dirs.append(str(path))
    n_params = sum(p.numel() for p in model.parameters())
    return dirs, n_params


def nll(model, batch) -> float:
    with torch.no_grad():
        return float(model(input_ids=batch, labels=batch).loss)


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench_merge_grid_", dir=args.workdir))
    try:
        dirs, n_params = make_pair(work, args.hidden, args.layers, args.vocab)
        vocab = args.vocab
        gen = torch.Generator().manual_seed(0)
        batch = torch.randint(0, vocab, (args.batch, args.seq), generator=gen)
        alphas = [round(i / 10, 1) for i in range(11)]
        results = {"recipes": [], "checkpoint": [], "mergekit": []}
        from transformers import AutoModelForCausalLM

        def recipe_for(alpha):
            return make_recipe(f"bench/ma/alpha{alpha:g}", theta0=dirs[0], theta=dirs[1],
                               layer_ratios=[alpha] * args.layers, global_ratio=alpha,
                               policies=DEFAULT_POLICIES["ma"], meta={"method": "ma",
                                                                      "alpha": alpha})

        # 1. recipes, built in memory; the one-off load of theta0/theta is counted in the
        #    first point
        cache = ModelCache()
        out = work / "recipes"
        out.mkdir()
        for alpha in alphas:
            t = time.perf_counter()
            path = out / f"alpha{alpha:g}.json"
            path.write_text(json.dumps(recipe_for(alpha)))
            value = nll(materialize(json.loads(path.read_text()), cache), batch)
            results["recipes"].append({"alpha": alpha, "seconds": time.perf_counter() - t,
                                       "bytes": path.stat().st_size, "nll": value})

        # 2. one checkpoint per point (same merge code), loaded back for evaluation
        cache = ModelCache()
        for alpha in alphas:
            t = time.perf_counter()
            ckpt = work / "ckpt" / f"alpha{alpha:g}"
            export_recipe(recipe_for(alpha), ckpt, cache)
            value = nll(AutoModelForCausalLM.from_pretrained(ckpt).eval(), batch)
            results["checkpoint"].append({"alpha": alpha, "seconds": time.perf_counter() - t,
                                          "bytes": dir_bytes(ckpt), "nll": value})
            shutil.rmtree(ckpt)

        # 3. mergekit-yaml CLI per point
        cli = Path(sys.executable).parent / "mergekit-yaml"
        for alpha in alphas:
            t = time.perf_counter()
            cfg = work / f"mk_alpha{alpha:g}.yml"
            cfg.write_text(json.dumps({  # JSON is YAML
                "merge_method": "linear", "base_model": dirs[0], "dtype": "float32",
                "models": [{"model": dirs[0], "parameters": {"weight": alpha}},
                           {"model": dirs[1], "parameters": {"weight": 1 - alpha}}]}))
            ckpt = work / "mk" / f"alpha{alpha:g}"
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
            subprocess.run([str(cli), str(cfg), str(ckpt), "--device", "cpu", "--copy-tokenizer",
                            "--quiet"], check=True, env=env, capture_output=True)
            value = nll(AutoModelForCausalLM.from_pretrained(ckpt).eval(), batch)
            results["mergekit"].append({"alpha": alpha, "seconds": time.perf_counter() - t,
                                        "bytes": dir_bytes(ckpt) + cfg.stat().st_size,
                                        "nll": value})
            shutil.rmtree(ckpt)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for method in ("checkpoint", "mergekit"):
        for a, b in zip(results["recipes"], results[method], strict=True):
            if abs(a["nll"] - b["nll"]) > 1e-4:
                raise AssertionError(f"{method} alpha {a['alpha']}: NLL {b['nll']} != {a['nll']}")
    summary = {}
    for method, rows in results.items():
        summary[method] = {
            "seconds_per_point": sum(r["seconds"] for r in rows) / len(rows),
            "bytes_per_point": sum(r["bytes"] for r in rows) / len(rows),
        }
    base = summary["recipes"]
    for method in summary:
        summary[method]["time_ratio"] = summary[method]["seconds_per_point"] / base[
            "seconds_per_point"]
        summary[method]["bytes_ratio"] = summary[method]["bytes_per_point"] / base[
            "bytes_per_point"]
    return {"settings": vars(args) | {"n_params": n_params, "alphas": alphas,
                                      "machine": platform.platform(),
                                      "torch": torch.__version__},
            "summary": summary, "points": results}


def write_results(result: dict) -> None:
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "merge_grid.json").write_text(json.dumps(result, indent=2) + "\n")
    s = result["settings"]
    lines = [
        MARK_BEGIN,
        "## Merge grid: recipes in memory vs a checkpoint per point vs mergekit-yaml",
        "",
        f"`benchmarks/bench_merge_grid.py --hidden {s['hidden']} --layers {s['layers']} "
        f"--vocab {s['vocab']} --threads {s['threads']}`: a random Llama pair of "
        f"{s['n_params'] / 1e6:.1f}M parameters (fp32), 11-point alpha grid (alpha = weight "
        f"on theta0), each point evaluated by the same forward pass (NLL of a "
        f"{s['batch']}x{s['seq']} batch; equal across the three ways to 1e-4). "
        f"CPU ({s['threads']} thread(s), a shared 2-core machine), torch {s['torch']}.",
        "",
        "| way | seconds / point | bytes written / point | time ratio | bytes ratio |",
        "|---|---|---|---|---|",
    ]
    for method, row in result["summary"].items():
        lines.append(f"| {method} | {row['seconds_per_point']:.2f} | "
                     f"{row['bytes_per_point']:,.0f} | {row['time_ratio']:.1f}x | "
                     f"{row['bytes_ratio']:,.0f}x |")
    lines += ["", "Ratios are relative to the recipes row. The recipes row includes the "
              "one-off load of theta0 and theta in its first point.", MARK_END]
    replace_section(ROOT / "benchmarks" / "RESULTS.md", "\n".join(lines))


def replace_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    begin, end = section.splitlines()[0], section.splitlines()[-1]
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", default=None, help="where the temporary checkpoints go")
    args = parser.parse_args()
    result = run(args)
    for method, row in result["summary"].items():
        print(method, {k: round(v, 3) for k, v in row.items()})
    write_results(result)


if __name__ == "__main__":
    main()
