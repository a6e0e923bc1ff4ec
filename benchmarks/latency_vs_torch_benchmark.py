"""The latency core's CPU p50 against torch.utils.benchmark on the same model and batch (target within 5%).

Models: the demo's full MLP and its slow (identity-widened) variant, in their encoded input space;
batch sizes 1 and 64; one thread; each pair measured alternately over several rounds in one process.
torch.utils.benchmark's Timer.blocked_autorange reports the median of per-block means; the core reports
the median of single calls, so the comparison uses Timer.timeit(1) repeated (single calls) as well.
Run: `.venv/bin/python benchmarks/latency_vs_torch_benchmark.py`.
"""

from __future__ import annotations

import statistics

import torch
import torch.utils.benchmark as tb

from demo.adult_data import load_eval, load_train
from demo.adult_model import widen
from flows.demo import FULL
from gates.latency_core import time_interleaved

ROUNDS = 5  # each figure is the median over this many alternating rounds


def timer_single_call_median(model: torch.nn.Module, x: torch.Tensor, calls: int) -> float:
    timer = tb.Timer(
        stmt="model(x)",
        setup="_ctx = torch.inference_mode(); _ctx.__enter__()",
        globals={"model": model, "x": x, "torch": torch},
        num_threads=1,
    )
    return statistics.median(timer.timeit(1).median for _ in range(calls))


def timer_blocked(model: torch.nn.Module, x: torch.Tensor) -> float:
    timer = tb.Timer(
        stmt="model(x)",
        setup="_ctx = torch.inference_mode(); _ctx.__enter__()",
        globals={"model": model, "x": x, "torch": torch},
        num_threads=1,
    )
    return timer.blocked_autorange(min_run_time=0.5).median


def main() -> None:
    from demo.adult_model import train

    torch.set_num_threads(1)
    pre, full = train(load_train(), FULL)
    slow = widen(full, 4096, 3).eval()
    rows = pre.transform(load_eval().sample(512, random_state=0))
    header = ["model ", "batch", "    core p50", " Timer 1-call", " ratio", " Timer blocked", " ratio", " within 5%"]
    print(" ".join(header))
    worst = 0.0
    for name, model, calls in (("full", full, 2000), ("slow", slow, 200)):
        for batch in (1, 64):
            x = rows[:batch].contiguous()
            core, single, blocked = [], [], []
            for _ in range(ROUNDS):
                core.append(
                    time_interleaved({"m": model}, lambda b, x=x: x, [batch], iterations=calls, warmup=20)["m"][
                        0
                    ].p50_ms
                    / 1000
                )
                single.append(timer_single_call_median(model, x, calls))
                blocked.append(timer_blocked(model, x))
            c, s, b = statistics.median(core), statistics.median(single), statistics.median(blocked)
            ok = abs(c / s - 1) <= 0.05 and abs(c / b - 1) <= 0.05
            worst = max(worst, abs(c / s - 1), abs(c / b - 1))
            print(
                f"{name:6} {batch:5d} {c * 1e6:10.1f}us {s * 1e6:11.1f}us {c / s:6.3f} {b * 1e6:12.1f}us {c / b:6.3f}"
                f" {'yes' if ok else 'NO':>9}"
            )
    print(f"largest difference: {worst:.1%} (target 5%)")


if __name__ == "__main__":
    main()
