"""Benchmark: one HMA optimisation step vs one plain fine-tuning step, same model size and
same batch.

  finetune - AdamW over every parameter: forward, backward, optimizer step;
  hma      - the HMA step of alignment_tax.hma: ratios from the live fp32 logits, merged
             parameters theta0 + (1 - r_k) * delta through torch.func.functional_call,
             backward to the K logits only, Adam step on K numbers.

Each mode runs in its own process; peak memory = peak resident memory during the timed
steps (sampled every millisecond) minus the resident memory of the bare process before the
model is built, so it counts weights, gradients, optimizer state and activations. On a CUDA
machine it reports torch.cuda.max_memory_allocated instead.

    .venv/bin/python benchmarks/bench_hma_step.py [--hidden 512 --layers 8 --vocab 8000]

Writes benchmarks/results/hma_step.json and its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow_scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))

MARK_BEGIN = "<!-- bench_hma_step:begin -->"
MARK_END = "<!-- bench_hma_step:end -->"


class PeakRSS:
    """Highest resident set size seen while active (sampled in a thread)."""

    def __init__(self):
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        self.peak = self.proc.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.001)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def worker(args) -> dict:
    import psutil
    import torch
    from alignment_tax.hma import MergedParameters, hma_ratios, initial_logits
    from alignment_tax.merging import part_ranges
    from alignment_tax.variants import DEFAULT_POLICIES
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base_rss = psutil.Process().memory_info().rss
    config = LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden,
                         intermediate_size=args.hidden * 8 // 3, num_hidden_layers=args.layers,
                         num_attention_heads=max(1, args.hidden // 64),
                         max_position_embeddings=512, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(device).eval()
    gen = torch.Generator().manual_seed(0)
    batch = torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen).to(device)
    inputs = {"input_ids": batch, "labels": batch}

    if args.worker == "finetune":
        model.requires_grad_(True)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = model(**inputs).loss
            loss.backward()
            optimizer.step()
            return loss
    else:
        torch.manual_seed(1)
        theta = LlamaForCausalLM(config).to(device)
        theta_state = {k: v.detach() for k, v in theta.state_dict().items()}
        del theta
        model.requires_grad_(False)
        ranges = part_ranges(args.layers, args.k)
        merged = MergedParameters(model, theta_state, ranges, DEFAULT_POLICIES["hma"], 0.3)
        del theta_state
        logits = torch.nn.Parameter(initial_logits(args.k, 0.3).to(device))
        optimizer = torch.optim.Adam([logits], lr=5e-2)

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = merged.loss(hma_ratios(logits, 0.3), inputs)
            loss.backward()
            optimizer.step()
            return loss

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    sync()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    with PeakRSS() as rss:
        for _ in range(args.steps):
            t = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - t)
    peak = (torch.cuda.max_memory_allocated() if device == "cuda" else rss.peak - base_rss)
    return {"mode": args.worker, "device": device, "median_seconds": statistics.median(times),
            "mean_seconds": statistics.mean(times), "peak_bytes": peak,
            "n_params": sum(p.numel() for p in model.parameters())}


def write_results(result: dict) -> None:
    from bench_merge_grid import replace_section

    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "hma_step.json").write_text(json.dumps(result, indent=2) + "\n")
    s, ft, hma = result["settings"], result["finetune"], result["hma"]
    memory = "torch.cuda.max_memory_allocated" if ft["device"] == "cuda" else (
        "peak resident memory during the steps above the bare process")
    lines = [
        MARK_BEGIN,
        "## One HMA step vs one plain fine-tuning step",
        "",
        f"`benchmarks/bench_hma_step.py --hidden {s['hidden']} --layers {s['layers']} "
        f"--vocab {s['vocab']} --batch {s['batch']} --seq {s['seq']} --k {s['k']}`: random "
        f"Llama, {ft['n_params'] / 1e6:.1f}M parameters, fp32, batch {s['batch']}x{s['seq']}, "
        f"{s['steps']} timed steps after {s['warmup']} warm-up, median; device "
        f"{ft['device']} ({s['threads']} thread(s), shared 2-core machine), torch "
        f"{s['torch']}. Memory: {memory}.",
        "",
        "| step | median s | peak memory (MB) |",
        "|---|---|---|",
        f"| fine-tuning (AdamW, all parameters) | {ft['median_seconds']:.3f} | "
        f"{ft['peak_bytes'] / 2**20:,.0f} |",
        f"| HMA (K={s['k']} logits, functional_call) | {hma['median_seconds']:.3f} | "
        f"{hma['peak_bytes'] / 2**20:,.0f} |",
        f"| ratio HMA / fine-tuning | {result['time_ratio']:.2f}x | "
        f"{result['memory_ratio']:.2f}x |",
        MARK_END,
    ]
    replace_section(ROOT / "benchmarks" / "RESULTS.md", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", choices=["finetune", "hma"], default=None)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    import torch

    result = {"settings": vars(args) | {"torch": torch.__version__,
                                        "machine": platform.platform()}}
    flags = [f"--{k}={v}" for k, v in vars(args).items() if k != "worker"]
    # alternate the modes (twice each) so load from other users of the CPU hits both alike
    runs = {"finetune": [], "hma": []}
    for mode in ("finetune", "hma", "hma", "finetune"):
        out = subprocess.run([sys.executable, __file__, *flags, f"--worker={mode}"],
                             check=True, capture_output=True, text=True)
        runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    for mode, rows in runs.items():
        best = min(rows, key=lambda r: r["median_seconds"])
        result[mode] = {**best, "peak_bytes": max(r["peak_bytes"] for r in rows),
                        "all_medians": [r["median_seconds"] for r in rows]}
    result["time_ratio"] = result["hma"]["median_seconds"] / result["finetune"]["median_seconds"]
    result["memory_ratio"] = result["hma"]["peak_bytes"] / result["finetune"]["peak_bytes"]
    print(json.dumps({k: result[k] for k in ("time_ratio", "memory_ratio")}))
    write_results(result)


if __name__ == "__main__":
    main()
