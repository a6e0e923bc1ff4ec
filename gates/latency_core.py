"""Latency timing core: depends only on torch and numpy, so it runs alone on a GPU machine.

Candidate and champion are timed in the same process, interleaved call by call, over a sweep of batch
sizes: warm-up, then one timed call per model per iteration. On CUDA each call is bracketed by CUDA
events with synchronisation and inputs already on the device; on CPU by perf_counter_ns. Optional
modes: torch.compile, or (CUDA only) a captured CUDA graph.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from gates.latency_stats import LatencyStats, summarise

Forward = Callable[[torch.Tensor], torch.Tensor]


def resolve_device(choice: str) -> str:
    """'cuda' when asked for (or auto) and available, else 'cpu'."""
    if choice in ("cuda", "auto") and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def prepare_target(forward: Forward, example: torch.Tensor, device: str, mode: str) -> Forward:
    """The callable to time: eager, torch.compile'd, or replaying a captured CUDA graph."""
    if mode == "compile":
        return torch.compile(forward)
    if mode == "cuda_graph" and device == "cuda":
        static_in = example.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream), torch.inference_mode():
            for _ in range(3):
                forward(static_in)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch.inference_mode():
            static_out = forward(static_in)

        def replay(x: torch.Tensor) -> torch.Tensor:
            static_in.copy_(x)
            graph.replay()
            return static_out

        return replay
    return forward


def time_interleaved(
    models: dict[str, Forward],
    make_input: Callable[[int], torch.Tensor] | dict[str, Callable[[int], object]],
    batch_sizes: list[int],
    *,
    iterations: int = 200,
    warmup: int = 20,
    device: str = "cpu",
    mode: str = "eager",
) -> dict[str, list[LatencyStats]]:
    """Per model, latency stats per batch size; models alternate call by call (order rotated each iteration).

    `make_input` builds one batch for all models, or one per model (models with different input encodings,
    or whole pyfunc models fed DataFrames); tensors are moved to the device before timing.
    """
    names = list(models)
    makers = make_input if isinstance(make_input, dict) else {n: make_input for n in names}
    out: dict[str, list[LatencyStats]] = {n: [] for n in names}
    for batch in batch_sizes:
        xs = {n: makers[n](batch) for n in names}
        xs = {n: (v.to(device) if isinstance(v, torch.Tensor) else v) for n, v in xs.items()}
        prepared = {n: prepare_target(models[n], xs[n], device, mode) for n in names}
        with torch.inference_mode():
            for _ in range(warmup):
                for n in names:
                    prepared[n](xs[n])
        if device == "cuda":
            torch.cuda.synchronize()
        times = {n: np.empty(iterations) for n in names}
        peaks: dict[str, float | None] = {n: None for n in names}
        gc_was_enabled = gc.isenabled()
        gc.disable()  # as timeit does: a collection inside one call would land in that call's time
        try:
            with torch.inference_mode():
                for i in range(iterations):
                    order = names[i % len(names) :] + names[: i % len(names)]
                    for n in order:
                        times[n][i] = _time_call(prepared[n], xs[n], device)
        finally:
            if gc_was_enabled:
                gc.enable()
        with torch.inference_mode():
            if device == "cuda":
                for n in names:  # peak memory per model, measured separately after timing
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                    prepared[n](xs[n])
                    torch.cuda.synchronize()
                    peaks[n] = torch.cuda.max_memory_allocated() / 2**20
        for n in names:
            out[n].append(summarise(batch, times[n], peaks[n]))
    return out


def _time_call(fn: Callable[[object], object], x: object, device: str) -> float:
    if device == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(x)
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0
    t0 = time.perf_counter_ns()
    fn(x)
    return (time.perf_counter_ns() - t0) / 1e9


class WaitClock(Protocol):
    """The calling thread's run-queue wait so far: `read()` is cheap, `nanoseconds()` parses a reading later."""

    def read(self) -> bytes: ...

    def nanoseconds(self, reading: bytes) -> int: ...


@dataclass
class CallTimes:
    """Per-call wall times, and the run-queue wait known to lie inside each call (seconds; 0 where unmeasured)."""

    wall: np.ndarray
    waited: np.ndarray

    @property
    def latency(self) -> np.ndarray:
        """Wall time less the time the OS kept the calling thread waiting for a CPU."""
        return self.wall - self.waited


def timed_calls(
    fn: Callable[[object], object], x: object, calls: int, device: str, clock: WaitClock | None = None
) -> CallTimes:
    """Time `calls` consecutive calls (inference mode, garbage collector off while timing).

    On CPU with a `clock`, each call's run-queue wait is read just before and after it; only the wait that
    certainly fell inside the call is kept (the wait counted between the two readings, less the time spent
    outside the call between them), so a neighbour's load is taken out and nothing of the model's own time is.
    """
    wall, waited = np.empty(calls), np.zeros(calls)
    measured = clock is not None and device != "cuda"
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with torch.inference_mode():
            for i in range(calls):
                if not measured:
                    wall[i] = _time_call(fn, x, device)
                    continue
                assert clock is not None
                before = time.perf_counter_ns()
                r0 = clock.read()
                t0 = time.perf_counter_ns()
                fn(x)
                t1 = time.perf_counter_ns()
                r1 = clock.read()
                after = time.perf_counter_ns()
                inside = clock.nanoseconds(r1) - clock.nanoseconds(r0) - (t0 - before) - (after - t1)
                wall[i] = (t1 - t0) / 1e9
                waited[i] = min(max(inside, 0), t1 - t0) / 1e9
    finally:
        if gc_was_enabled:
            gc.enable()
    return CallTimes(wall=wall, waited=waited)


def peak_memory_mb(fn: Callable[[object], object], x: object) -> float:
    """Peak CUDA memory of one call, in MiB (CUDA only)."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        fn(x)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 2**20
