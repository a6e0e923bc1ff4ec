"""Binary classification metrics with row weights, vectorised over bootstrap resamples.

Each metric takes `y` (0/1 labels, shape (n,)), `score` (positive-class probability, shape (n,)) and
`weights` (shape (n,) or (resamples, n); row counts of a bootstrap resample). With unit weights the
values equal scikit-learn's (precision/recall/F1 with zero_division=0).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
EPS = 1e-15
CHUNK = 1 << 20  # rows per step of the whole-data metrics: their temporaries stay a few MiB on any eval set


def _div(num: FloatArray, den: FloatArray) -> FloatArray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _confusion(y: NDArray, pred: NDArray, w: NDArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    yb = y.astype(bool)
    tp = w @ (yb & pred).astype(np.float64)
    fp = w @ (~yb & pred).astype(np.float64)
    fn = w @ (yb & ~pred).astype(np.float64)
    return tp, fp, fn


def accuracy(y: NDArray, score: NDArray, w: NDArray, threshold: float = 0.5) -> FloatArray:
    """Weighted share of rows whose thresholded score equals the label."""
    correct = (y.astype(bool) == (score >= threshold)).astype(np.float64)
    return _div(w @ correct, w.sum(axis=-1))


def precision(y: NDArray, score: NDArray, w: NDArray, threshold: float = 0.5) -> FloatArray:
    """TP / (TP + FP); 0 when nothing is predicted positive."""
    tp, fp, _ = _confusion(y, score >= threshold, w)
    return _div(tp, tp + fp)


def recall(y: NDArray, score: NDArray, w: NDArray, threshold: float = 0.5) -> FloatArray:
    """TP / (TP + FN); 0 when there are no positives."""
    tp, _, fn = _confusion(y, score >= threshold, w)
    return _div(tp, tp + fn)


def f1(y: NDArray, score: NDArray, w: NDArray, threshold: float = 0.5) -> FloatArray:
    """2TP / (2TP + FP + FN)."""
    tp, fp, fn = _confusion(y, score >= threshold, w)
    return _div(2 * tp, 2 * tp + fp + fn)


def roc_auc(y: NDArray, score: NDArray, w: NDArray, threshold: float = 0.5) -> FloatArray:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN when one class is absent."""
    del threshold
    order = np.argsort(score, kind="stable")
    s_sorted = score[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    yb = y.astype(bool)[order]
    w_sorted = w[..., order]
    pos = np.add.reduceat(np.where(yb, w_sorted, 0.0), starts, axis=-1)
    neg = np.add.reduceat(np.where(yb, 0.0, w_sorted), starts, axis=-1)
    neg_below = np.cumsum(neg, axis=-1) - neg
    n_pos = pos.sum(axis=-1)
    n_neg = neg.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(pos * (neg_below + 0.5 * neg), axis=-1) / (n_pos * n_neg)


def log_loss(y: NDArray, score: NDArray, w: NDArray, threshold: float = 0.5) -> FloatArray:
    """Weighted mean binary cross-entropy, scores clipped to [1e-15, 1 - 1e-15]."""
    del threshold
    p = np.clip(score.astype(np.float64), EPS, 1 - EPS)
    per_row = -np.where(y.astype(bool), np.log(p), np.log1p(-p))
    return _div(w @ per_row, w.sum(axis=-1))


def roc_auc_unweighted(y: NDArray, score: NDArray) -> float:
    """ROC AUC with every row counted once (ties half): the smaller class's scores sorted, the other class's looked
    up in them a sorted chunk at a time (binary search), so that besides the smaller class no copy of every row's
    scores is made. Equals roc_auc with unit weights; NaN when one class is absent."""
    yb = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    positives = int(np.count_nonzero(yb))
    negatives = yb.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    small_is_positive = positives <= negatives
    small = score[yb] if small_is_positive else score[~yb]
    small.sort()  # in place: the selection is a copy already
    above = tied = 0  # pairs where the smaller class's score is above the other's, and pairs tied
    for start in range(0, score.size, CHUNK):  # the other class a chunk at a time
        chunk = yb[start : start + CHUNK]
        part = score[start : start + CHUNK][~chunk if small_is_positive else chunk]
        part.sort()  # sorted lookups: each search starts near the last one
        low = np.searchsorted(small, part, side="left")
        high = np.searchsorted(small, part, side="right")
        above += int(small.size * part.size - high.sum())
        tied += int((high - low).sum())
    pairs = positives * negatives
    won = above if small_is_positive else pairs - above - tied  # pairs where the positive is above the negative
    return float((won + 0.5 * tied) / pairs)


class ScoredRows:
    """One model's scores on fixed rows, prepared once so that every metric of many resamples (rows of a weights
    matrix) shares the thresholded counts and the score order. Values equal the functions above."""

    def __init__(self, y: NDArray, score: NDArray, threshold: float) -> None:
        self.yb = np.asarray(y).astype(bool)
        self.score = np.asarray(score, dtype=np.float64)
        self.threshold = threshold

    # Each metric's arrays are made on first use (indicators as bools), so a large eval set holds only what its
    # metrics need.
    @cached_property
    def _pred(self) -> NDArray:
        return self.score >= self.threshold

    @cached_property
    def correct(self) -> NDArray[np.bool_]:
        return self.yb == self._pred

    @cached_property
    def tp(self) -> NDArray[np.bool_]:
        return self.yb & self._pred

    @cached_property
    def fp(self) -> NDArray[np.bool_]:
        return ~self.yb & self._pred

    @cached_property
    def fn(self) -> NDArray[np.bool_]:
        return self.yb & ~self._pred

    @cached_property
    def _score_rank(self) -> tuple[NDArray, int]:
        """(each row's rank among the distinct scores, ascending; how many distinct scores there are)."""
        _, inverse = np.unique(self.score, return_inverse=True)
        return inverse.ravel(), int(inverse.max()) + 1 if inverse.size else 0

    @cached_property
    def row_loss(self) -> FloatArray:
        p = np.clip(self.score, EPS, 1 - EPS)
        return -np.where(self.yb, np.log(p), np.log1p(-p))

    def whole(self, names: list[str]) -> dict[str, float]:
        """Each named metric with every row counted once: counts instead of weighted sums (equal values)."""
        n = self.yb.shape[0]
        pred = self.score >= self.threshold
        out: dict[str, float] = {}
        if {"precision", "recall", "f1"} & set(names):
            tp = np.count_nonzero(self.yb & pred)
            fp, fn = np.count_nonzero(pred) - tp, np.count_nonzero(self.yb) - tp
        for name in names:
            if name == "accuracy":
                out[name] = np.count_nonzero(self.yb == pred) / n if n else 0.0
            elif name == "precision":
                out[name] = tp / (tp + fp) if tp + fp else 0.0
            elif name == "recall":
                out[name] = tp / (tp + fn) if tp + fn else 0.0
            elif name == "f1":
                out[name] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
            elif name == "log_loss":
                out[name] = self._mean_loss() if n else 0.0
            elif name == "roc_auc":
                out[name] = roc_auc_unweighted(self.yb, self.score)
            else:
                raise KeyError(name)
        return {k: float(v) for k, v in out.items()}

    def _mean_loss(self) -> float:
        """Mean log loss, a chunk of rows at a time (a large eval set holds no per-row loss array)."""
        total = 0.0
        for start in range(0, self.score.size, CHUNK):
            p = np.clip(self.score[start : start + CHUNK], EPS, 1 - EPS)
            np.subtract(1.0, p, out=p, where=~self.yb[start : start + CHUNK])
            total += float(np.log(p, out=p).sum())
        return -total / self.score.size

    def values(self, names: list[str], w: FloatArray) -> dict[str, FloatArray]:
        """Each named metric for every row of `w` (shape (resamples, n))."""
        total = w.sum(axis=-1)
        out: dict[str, FloatArray] = {}
        if {"precision", "recall", "f1"} & set(names):
            tp, fp, fn = w @ self.tp, w @ self.fp, w @ self.fn
        for name in names:
            if name == "accuracy":
                out[name] = _div(w @ self.correct, total)
            elif name == "precision":
                out[name] = _div(tp, tp + fp)
            elif name == "recall":
                out[name] = _div(tp, tp + fn)
            elif name == "f1":
                out[name] = _div(2 * tp, 2 * tp + fp + fn)
            elif name == "log_loss":
                out[name] = _div(w @ self.row_loss, total)
            elif name == "roc_auc":
                out[name] = self._roc_auc(w)
            else:
                raise KeyError(name)
        return out

    def _roc_auc(self, w: FloatArray) -> FloatArray:
        """Weighted ROC AUC per row of w: positives and negatives per distinct score (ties count half)."""
        rank, width = self._score_rank
        weights = np.atleast_2d(w)
        out = np.empty(weights.shape[0])
        for i, row in enumerate(weights):
            pos = np.bincount(rank, weights=row * self.yb, minlength=width)
            neg = np.bincount(rank, weights=row, minlength=width) - pos
            neg_below = np.cumsum(neg) - neg
            with np.errstate(invalid="ignore", divide="ignore"):
                out[i] = np.sum(pos * (neg_below + 0.5 * neg)) / (pos.sum() * neg.sum())
        return out if w.ndim > 1 else out[0]


METRICS: dict[str, Callable[..., FloatArray]] = {
    "accuracy": accuracy,
    "precision": precision,
    "recall": recall,
    "f1": f1,
    "roc_auc": roc_auc,
    "log_loss": log_loss,
}


def compute(name: str, y: NDArray, score: NDArray, threshold: float = 0.5) -> float:
    """One metric on the whole sample, as a Python float."""
    y = np.asarray(y)
    score = np.asarray(score, dtype=np.float64)
    if name == "roc_auc":
        return roc_auc_unweighted(y, score)
    return float(METRICS[name](y, score, np.ones(y.shape[0]), threshold))
