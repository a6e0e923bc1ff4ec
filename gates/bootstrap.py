"""Paired bootstrap: the same resampled rows score candidate and champion."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

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
        weights = np.empty((min(CHUNK, resamples - start), n))
        for row in weights:  # the same draws as one (k, n) call, counted without a (k, n) index array
            row[:] = np.bincount(rng.integers(0, n, size=n), minlength=n)
        yield weights


class Rows(Protocol):
    """One model's predictions on fixed rows, prepared for metrics over resample weights (gates.metrics,
    gates.task_metrics)."""

    def values(self, names: list[str], w: NDArray[np.float64]) -> dict[str, NDArray]: ...


def whole_values(rows: Rows, metrics: list[str], n: int) -> dict[str, float]:
    """Each metric with every row counted once (binary rows count directly; others through unit weights)."""
    if isinstance(rows, ScoredRows):
        return rows.whole(metrics)
    out = rows.values(metrics, np.ones((1, n)))
    return {m: float(out[m][0]) for m in metrics}


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
    """For each metric, the interval of metric(candidate) - metric(champion) over paired resamples (binary)."""
    y = np.asarray(y)
    return paired_row_differences(
        metrics,
        ScoredRows(y, candidate, threshold),
        ScoredRows(y, champion, threshold),
        y.shape[0],
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )


def paired_row_differences(
    metrics: list[str], candidate: Rows, champion: Rows, n: int, *, resamples: int, confidence: float, seed: int
) -> dict[str, Interval]:
    """For each metric, the interval of metric(candidate) - metric(champion) over paired resamples of n rows."""
    rows = {"candidate": candidate, "champion": champion}
    diffs: dict[str, list[NDArray]] = {m: [] for m in metrics}
    for weights in resample_weights(n, resamples, seed):
        cand, champ = (rows[side].values(metrics, weights) for side in ("candidate", "champion"))
        for m in metrics:
            diffs[m].append(cand[m] - champ[m])
    whole = {side: whole_values(scored, metrics, n) for side, scored in rows.items()}
    alpha = (1 - confidence) / 2
    out: dict[str, Interval] = {}
    for m in metrics:
        estimate = whole["candidate"][m] - whole["champion"][m]
        values = np.concatenate(diffs[m])
        values = values[np.isfinite(values)]
        if values.size == 0:
            out[m] = Interval(estimate, float("nan"), float("nan"))
            continue
        low, high = np.quantile(values, [alpha, 1 - alpha])
        out[m] = Interval(estimate, float(low), float(high))
    return out


def resampled_sums(
    matrix: sparse.csr_array, resamples: int, seed: int, counts: NDArray | None = None
) -> NDArray[np.float64]:
    """`weights @ matrix` for each of `resamples` seeded bootstrap draws, shape (resamples, columns).

    `counts`: each matrix row stands for that many eval rows (equal rows collapsed into one); a draw is then
    multinomial counts of the rows, which is the same bootstrap distribution as drawing the eval rows one by one,
    at a cost that does not grow with them."""
    if counts is None:
        return np.concatenate([w @ matrix for w in resample_weights(matrix.shape[0], resamples, seed)])
    total = int(counts.sum())
    rng = np.random.default_rng(seed)
    chunks = []
    for start in range(0, resamples, CHUNK):
        k = min(CHUNK, resamples - start)
        chunks.append(rng.multinomial(total, counts / total, size=k).astype(np.float64) @ matrix)
    return np.concatenate(chunks)
