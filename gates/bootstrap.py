"""Paired bootstrap: the same resampled rows score candidate and champion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gates.metrics import METRICS

CHUNK = 250


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided percentile interval."""

    estimate: float
    low: float
    high: float


def resample_weights(n: int, resamples: int, seed: int) -> list[NDArray[np.float64]]:
    """Row counts of `resamples` bootstrap draws of n rows, in chunks of shape (k, n)."""
    rng = np.random.default_rng(seed)
    chunks = []
    for start in range(0, resamples, CHUNK):
        k = min(CHUNK, resamples - start)
        idx = rng.integers(0, n, size=(k, n)) + (np.arange(k)[:, None] * n)
        chunks.append(np.bincount(idx.ravel(), minlength=k * n).reshape(k, n).astype(np.float64))
    return chunks


def paired_differences(
    metrics: list[str],
    y: NDArray,
    candidate: NDArray,
    champion: NDArray,
    *,
    resamples: int,
    confidence: float,
    seed: int,
    threshold: float = 0.5,
) -> dict[str, Interval]:
    """For each metric, the interval of metric(candidate) - metric(champion) over paired resamples."""
    y = np.asarray(y)
    candidate = np.asarray(candidate, dtype=np.float64)
    champion = np.asarray(champion, dtype=np.float64)
    ones = np.ones(y.shape[0])
    diffs: dict[str, list[NDArray]] = {m: [] for m in metrics}
    for weights in resample_weights(y.shape[0], resamples, seed):
        for m in metrics:
            fn = METRICS[m]
            diffs[m].append(fn(y, candidate, weights, threshold) - fn(y, champion, weights, threshold))
    alpha = (1 - confidence) / 2
    out: dict[str, Interval] = {}
    for m in metrics:
        fn = METRICS[m]
        estimate = float(fn(y, candidate, ones, threshold) - fn(y, champion, ones, threshold))
        values = np.concatenate(diffs[m])
        values = values[np.isfinite(values)]
        if values.size == 0:
            out[m] = Interval(estimate, float("nan"), float("nan"))
            continue
        low, high = np.quantile(values, [alpha, 1 - alpha])
        out[m] = Interval(estimate, float(low), float(high))
    return out
