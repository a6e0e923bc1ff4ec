"""The latency core on its own (torch + numpy only): demo-shaped MLPs on CUDA when present, else CPU.

Prints the environment and, per model and batch size, p50/p95/p99 latency, throughput and peak GPU
memory. Needs nothing but torch and numpy, so it runs on a GPU machine without the rest of the stack:
`python benchmarks/gpu_latency.py [--mode eager|compile|cuda_graph]` from the project folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gates.latency_core import resolve_device, time_interleaved  # noqa: E402
from tasks.device_info import environment  # noqa: E402


def mlp(widths: list[int]) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for a, b in zip(widths, widths[1:], strict=False):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1]).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="eager", choices=["eager", "compile", "cuda_graph"])
    parser.add_argument("--batch-sizes", default="1,64,1024,8192")
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    device = resolve_device("auto")
    torch.manual_seed(0)
    models = {
        "demo-full (108-64-32-2)": mlp([108, 64, 32, 2]).to(device),
        "demo-slow (+3x4096 blocks)": mlp([108, 64, 32, 4096, 32, 4096, 32, 4096, 32, 2]).to(device),
    }
    batches = [int(b) for b in args.batch_sizes.split(",")]
    stats = time_interleaved(
        models,
        lambda b: torch.randn(b, 108),
        batches,
        iterations=args.iterations,
        warmup=30,
        device=device,
        mode=args.mode,
    )
    print(json.dumps(environment(device) | {"mode": args.mode}))
    print(f"{'model':28} {'batch':>6} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'samples/s':>13} {'peak MB':>8}")
    for name, rows in stats.items():
        for s in rows:
            peak = "" if s.peak_memory_mb is None else f"{s.peak_memory_mb:.1f}"
            print(
                f"{name:28} {s.batch_size:6d} {s.p50_ms:9.4f} {s.p95_ms:9.4f} {s.p99_ms:9.4f} "
                f"{s.throughput:13,.0f} {peak:>8}"
            )


if __name__ == "__main__":
    main()
