"""Paired bootstrap: the same resampled rows score candidate and champion."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gates.metrics import ScoredRows

CHUNK = 16  # resamples per weights block: (16, n) stays in cache, where (250, n) blocks went to memory


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided percentile interval."""

    estimate: float
    low: float
    high: float


def resample_weights(n: int, resamples: int, seed: int) -> Iterator[NDArray[np.float64]]:
    """Row counts of `resamples` bootstrap draws of n rows, in chunks of shape (k, n), made as they are used."""
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, CHUNK):
        k = min(CHUNK, resamples - start)
        idx = rng.integers(0, n, size=(k, n)) + (np.arange(k)[:, None] * n)
        yield np.bincount(idx.ravel(), minlength=k * n).reshape(k, n).astype(np.float64)


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
    rows = {"candidate": ScoredRows(y, candidate, threshold), "champion": ScoredRows(y, champion, threshold)}
    diffs: dict[str, list[NDArray]] = {m: [] for m in metrics}
    for weights in resample_weights(y.shape[0], resamples, seed):
        cand, champ = (rows[side].values(metrics, weights) for side in ("candidate", "champion"))
        for m in metrics:
            diffs[m].append(cand[m] - champ[m])
    ones = np.ones((1, y.shape[0]))
    whole = {side: scored.values(metrics, ones) for side, scored in rows.items()}
    alpha = (1 - confidence) / 2
    out: dict[str, Interval] = {}
    for m in metrics:
        estimate = float(whole["candidate"][m][0] - whole["champion"][m][0])
        values = np.concatenate(diffs[m])
        values = values[np.isfinite(values)]
        if values.size == 0:
            out[m] = Interval(estimate, float("nan"), float("nan"))
            continue
        low, high = np.quantile(values, [alpha, 1 - alpha])
        out[m] = Interval(estimate, float(low), float(high))
    return out
