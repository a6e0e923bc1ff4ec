"""Multiclass and regression metrics with row weights, vectorised over bootstrap resamples.

Like `gates.metrics.ScoredRows`: the rows are prepared once, then `values(names, w)` gives one value per row of
`w` (shape (resamples, n), row counts of bootstrap resamples). With unit weights the values equal scikit-learn's
(precision/recall/F1 with zero_division=0; `top_k_accuracy` and `mape` differ only where stated).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gates.metrics import EPS, FloatArray, _div
from gates.policy import TASK_METRICS

MULTICLASS_METRICS: tuple[str, ...] = tuple(sorted(TASK_METRICS["multiclass"]))
REGRESSION_METRICS: tuple[str, ...] = (*sorted(TASK_METRICS["regression"]), "mean_prediction")
MAPE_EPS = float(np.finfo(np.float64).eps)  # scikit-learn's denominator guard: |y - pred| / max(|y|, MAPE_EPS)


class MulticlassRows:
    """One model's class probabilities on fixed rows. Each row's true-class, predicted-class (argmax, first of
    ties) and hit indicators are stacked into one (n, 3K) matrix, so the weighted support, prediction count and
    true positives of every class and resample come from a single product `w @ indicators`.

    Macro averages run over the classes present in the weighted sample (weighted support > 0 or weighted
    predictions > 0), as scikit-learn averages over the labels of y_true and y_pred; balanced accuracy averages
    recall over the classes with support. `top_k_accuracy` counts a row when its true class is among the `top_k`
    highest probabilities, ties broken by a stable argsort of -proba (the lower class index wins; scikit-learn's
    reversed stable sort lets the higher one win, so the two differ only on tied probabilities).
    """

    def __init__(self, y: NDArray[np.integer], proba: NDArray, top_k: int = 2) -> None:
        y = np.asarray(y).astype(np.intp)
        proba = np.asarray(proba, dtype=np.float64)
        if proba.ndim != 2 or proba.shape[0] != y.shape[0]:
            raise ValueError(f"proba must have shape (n, K) with n = {y.shape[0]}, got {proba.shape}")
        n, k = proba.shape
        if n and (y.min() < 0 or y.max() >= k):
            raise ValueError(f"labels must be class indices in 0..{k - 1}")
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        self.n, self.n_classes = n, k
        eye = np.eye(k)
        truth, predicted = eye[y], eye[np.argmax(proba, axis=1)]
        self.indicators = np.hstack([truth, predicted, truth * predicted])
        self.correct = (truth * predicted).sum(axis=1)
        self.row_loss = -np.log(np.clip(proba[np.arange(n), y], EPS, 1.0))
        ranked = np.argsort(-proba, axis=1, kind="stable")[:, :top_k]
        self.top_hit = (ranked == y[:, None]).any(axis=1).astype(np.float64)

    def values(self, names: list[str], w: FloatArray) -> dict[str, FloatArray]:
        """Each named metric for every row of `w` (shape (resamples, n)); KeyError for an unknown name."""
        unknown = [name for name in names if name not in MULTICLASS_METRICS]
        if unknown:
            raise KeyError(unknown[0])
        total = w.sum(axis=-1)
        out: dict[str, FloatArray] = {}
        if set(names) - {"accuracy", "log_loss", "top_k_accuracy"}:
            support, predicted, tp = np.split(w @ self.indicators, 3, axis=-1)
            present = ((support > 0) | (predicted > 0)).sum(axis=-1)
        for name in names:
            if name == "accuracy":
                out[name] = _div(w @ self.correct, total)
            elif name == "top_k_accuracy":
                out[name] = _div(w @ self.top_hit, total)
            elif name == "log_loss":
                out[name] = _div(w @ self.row_loss, total)
            elif name == "balanced_accuracy":
                out[name] = _div(_div(tp, support).sum(axis=-1), (support > 0).sum(axis=-1))
            elif name == "precision_macro":
                out[name] = _div(_div(tp, predicted).sum(axis=-1), present)
            elif name == "recall_macro":
                out[name] = _div(_div(tp, support).sum(axis=-1), present)
            elif name == "f1_macro":
                out[name] = _div(_div(2 * tp, support + predicted).sum(axis=-1), present)
            else:  # f1_weighted
                f1 = _div(2 * tp, support + predicted)
                out[name] = _div((f1 * support).sum(axis=-1), support.sum(axis=-1))
        return out

    def per_class_recall(self) -> FloatArray:
        """Recall of each class 0..K-1 on all rows (unit weights); 0 for a class absent from y."""
        support, _, tp = np.split(self.indicators.sum(axis=0), 3)
        return _div(tp, support)


class RegressionRows:
    """One model's predictions of a numeric target on fixed rows, errors prepared once.

    `r2` is 1 - SSE/SST around the weighted mean of y, NaN when y is constant over the rows with weight > 0.
    `mape` guards its denominator: rows with |y| < `mape_floor` are left out (their relative error is
    meaningless), and the rest divide by max(|y|, MAPE_EPS), scikit-learn's guard, so `mape_floor=0` gives
    scikit-learn's value; NaN when no row qualifies. `max_error` is the largest |y - pred| over the rows with
    weight > 0 (NaN when there are none), so for a resample it is the worst of the rows it drew.
    """

    def __init__(self, y: NDArray[np.floating], pred: NDArray[np.floating], mape_floor: float = 1e-8) -> None:
        y = np.asarray(y, dtype=np.float64)
        pred = np.asarray(pred, dtype=np.float64)
        if y.ndim != 1 or pred.shape != y.shape:
            raise ValueError(f"y and pred must have the same shape (n,), got {y.shape} and {pred.shape}")
        self.n = y.shape[0]
        error = y - pred
        self.squared_error = error**2
        self.abs_error = np.abs(error)
        self.pred = pred
        self.y = y
        self.y_centred = y - y.mean() if y.size else y  # keeps SST's w @ y² - (w @ y)² / total from cancelling
        self.y_centred_sq = self.y_centred**2
        self.mape_rows = (np.abs(y) >= mape_floor).astype(np.float64)
        self.row_ape = self.mape_rows * self.abs_error / np.maximum(np.abs(y), MAPE_EPS)

    def values(self, names: list[str], w: FloatArray) -> dict[str, FloatArray]:
        """Each named metric for every row of `w` (shape (resamples, n)); KeyError for an unknown name."""
        unknown = [name for name in names if name not in REGRESSION_METRICS]
        if unknown:
            raise KeyError(unknown[0])
        total = w.sum(axis=-1)
        out: dict[str, FloatArray] = {}
        for name in names:
            if name == "rmse":
                out[name] = np.sqrt(_div(w @ self.squared_error, total))
            elif name == "mae":
                out[name] = _div(w @ self.abs_error, total)
            elif name == "mean_prediction":
                out[name] = _div(w @ self.pred, total)
            elif name == "r2":
                out[name] = self._r2(w, total)
            elif name == "mape":
                counted = w @ self.mape_rows
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[name] = np.where(counted > 0, (w @ self.row_ape) / counted, np.nan)
            else:  # max_error
                worst = _drawn_max(self.abs_error, w)
                out[name] = np.where(np.isneginf(worst), np.nan, worst)
        return out

    def _r2(self, w: FloatArray, total: FloatArray) -> FloatArray:
        sse = w @ self.squared_error
        sst = w @ self.y_centred_sq - _div((w @ self.y_centred) ** 2, total)
        constant = _drawn_max(self.y, w) <= -_drawn_max(-self.y, w)  # also true when nothing was drawn
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(constant | (sst <= 0), np.nan, 1 - sse / np.where(sst > 0, sst, 1.0))


def _drawn_max(x: FloatArray, w: FloatArray) -> FloatArray:
    """Max of x over the rows with weight > 0, per row of `w`; -inf where there are none."""
    return np.where(w > 0, x, -np.inf).max(axis=-1, initial=-np.inf)


def compute_task(name: str, rows: MulticlassRows | RegressionRows) -> float:
    """One metric on all rows (unit weights), as a Python float."""
    return float(rows.values([name], np.ones((1, rows.n)))[name][0])
