"""Latency statistics from per-call times (numpy only)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class LatencyStats:
    """Latency of one model at one batch size."""

    batch_size: int
    iterations: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    throughput: float  # samples per second at the median latency
    peak_memory_mb: float | None = None
    wall_p95_ms: float | None = None  # p95 of wall-clock times, run-queue wait included (None: not separated)
    waited_calls: int = 0  # calls whose run-queue wait (the OS running other processes) was taken out

    def to_dict(self) -> dict:
        return asdict(self)


def summarise(
    batch_size: int, seconds: np.ndarray, peak_memory_mb: float | None = None, wall: np.ndarray | None = None
) -> LatencyStats:
    """Percentiles (linear interpolation) and throughput from per-call times in seconds.

    `wall`, when given, holds the same calls' wall-clock times where `seconds` had run-queue wait taken out.
    """
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    wall_ms = None if wall is None else np.asarray(wall, dtype=np.float64) * 1000.0
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return LatencyStats(
        batch_size=batch_size,
        iterations=int(ms.size),
        p50_ms=float(p50),
        p95_ms=float(p95),
        p99_ms=float(p99),
        mean_ms=float(ms.mean()),
        throughput=float(batch_size / (p50 / 1000.0)) if p50 > 0 else float("inf"),
        peak_memory_mb=peak_memory_mb,
        wall_p95_ms=None if wall_ms is None else float(np.percentile(wall_ms, 95)),
        waited_calls=0 if wall_ms is None else int(np.count_nonzero(wall_ms > ms)),
    )
