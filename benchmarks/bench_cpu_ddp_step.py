"""One optimizer step of a real model on 2 CPU cores: 1 process x 2 threads vs 2 gloo
processes x 1 thread (the real-model lane's `resources.groups.train`, threads split by
training_common.run_stages) vs 2 gloo processes x 2 threads (what each launched process
ran before that split: it inherited the job's OMP_NUM_THREADS=2), side by side.

Each step is forward + backward + AdamW on the same global batch; the 2-process step is also
split into its parts (compute, the gradient all-reduce, the optimizer) so the cost of data
parallelism on the CPU is visible. Plain torch (DistributedDataParallel over gloo, what
accelerate's MULTI_CPU mode wraps the model in): the trainers add no per-step work of their
own beyond logging.

    .venv/bin/python benchmarks/bench_cpu_ddp_step.py results/real_cpu/models/base \
        --batch 8 --seq 128 --steps 3 --out benchmarks/results/cpu_ddp_step.json

The model folder is any safetensors checkpoint (the lane's converted SmolLM2-135M here).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow_scripts"))


def _model(path: str):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, use_safetensors=True, dtype=torch.float32)


def _batch(vocab: int, batch: int, seq: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(seed))


def single(path: str, batch: int, seq: int, steps: int) -> dict:
    torch.set_num_threads(2)
    model = _model(path)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-6)
    ids = _batch(model.config.vocab_size, batch, seq)
    times = []
    for _ in range(steps + 1):  # the first step warms up (allocations, AdamW state)
        start = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return {"step_s": sum(times[1:]) / steps}


def _worker(
    rank: int, path: str, batch: int, seq: int, steps: int, port: int, out: str, threads: int
):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    from torch.nn.parallel import DistributedDataParallel

    model = DistributedDataParallel(_model(path))
    optim = torch.optim.AdamW(model.parameters(), lr=1e-6)
    ids = _batch(model.module.config.vocab_size, batch, seq)[rank::2]
    parts = {"step_s": [], "allreduce_s": [], "optimizer_s": []}
    flat = torch.zeros(sum(p.numel() for p in model.parameters()))
    for _ in range(steps + 1):
        dist.barrier()
        start = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()  # DDP all-reduces during backward
        t_opt = time.perf_counter()
        optim.step()
        optim.zero_grad(set_to_none=True)
        end = time.perf_counter()
        dist.barrier()
        t_ar = time.perf_counter()
        dist.all_reduce(flat)  # one all-reduce of a gradient-sized buffer, alone
        parts["allreduce_s"].append(time.perf_counter() - t_ar)
        parts["optimizer_s"].append(end - t_opt)
        parts["step_s"].append(end - start)
    if rank == 0:
        Path(out).write_text(json.dumps({k: sum(v[1:]) / steps for k, v in parts.items()}))
    dist.destroy_process_group()


def two_processes(path: str, batch: int, seq: int, steps: int, threads: int) -> dict:
    import socket
    import tempfile

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/r.json"
        mp.spawn(_worker, args=(path, batch, seq, steps, port, out, threads), nprocs=2)
        return json.loads(Path(out).read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    one = single(args.model, args.batch, args.seq, args.steps)
    two = two_processes(args.model, args.batch, args.seq, args.steps, threads=1)
    oversubscribed = two_processes(args.model, args.batch, args.seq, args.steps, threads=2)
    result = {
        "model": args.model, "batch": args.batch, "seq": args.seq, "steps": args.steps,
        "one_process_two_threads": one, "two_processes_one_thread": two,
        "two_processes_two_threads": oversubscribed,
        "ratio_two_over_one": two["step_s"] / one["step_s"],
        "ratio_oversubscribed_over_two": oversubscribed["step_s"] / two["step_s"],
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
